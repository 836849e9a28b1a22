// Package checkpoint is a rides-connect plugin (being written).
package checkpoint
