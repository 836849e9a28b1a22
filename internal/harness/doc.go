// Package harness runs rides-connect end to end for the demo (cmd/rides-demo)
// and the end-to-end tests (tests/e2e): an in-process Kafka-protocol broker on
// 127.0.0.1, child processes started and stopped by PID, and a reference model
// of the seed's windowed aggregation to check the Delta table against.
package harness
