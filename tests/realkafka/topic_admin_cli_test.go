package realkafka

import (
	"testing"

	"github.com/miaradia/rides-connect/internal/clicmd"
)

// createRidesWithCLI runs `rides-connect kafka topic create` in-process when
// plugins/kafkafranz registers it, and reports whether it did.
func createRidesWithCLI(t *testing.T, be brokerEnv) bool {
	t.Helper()
	for _, c := range clicmd.All() {
		if c.Name == "kafka" {
			t.Fatalf("a `kafka` subcommand is registered now: wire it into createRidesWithCLI (%s)", c.Usage)
		}
	}
	t.Log("no `rides-connect kafka topic create` subcommand registered yet: creating rides with kadm")
	return false
}
