// Package kafkafranz registers the kafka_franz input and output (Redpanda
// Connect field names and metadata) on franz-go. This package is the Benthos
// adapter: specs, lint rules, batching, acks and metrics. The consumer's
// offset tracking, TLS/SASL and producer logic live in the Benthos-free
// subpackage franz.
package kafkafranz
