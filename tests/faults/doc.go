// Package faults is the fault harness of docs/faults.md: config/rides.yaml (or
// FAULT_CONFIG, e.g. config/rides-single.yaml) on a real Apache Kafka
// broker with its Delta table on local disk and on S3, under SIGKILLs, broker
// restarts, an S3 outage, injected S3 errors and an unwritable checkpoint
// directory. Run it with tests/faults/run.sh.
package faults
