// Package kafkafranz is a rides-connect plugin (being written).
package kafkafranz
