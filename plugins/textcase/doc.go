// Package textcase is a rides-connect plugin (being written).
package textcase
