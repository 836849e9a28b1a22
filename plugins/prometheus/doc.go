// Package prometheus is a rides-connect plugin (being written).
package prometheus
