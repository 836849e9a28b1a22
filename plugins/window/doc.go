// Package window is a rides-connect plugin (being written).
package window
