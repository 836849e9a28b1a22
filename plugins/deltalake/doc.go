// Package deltalake is a rides-connect plugin (being written).
package deltalake
