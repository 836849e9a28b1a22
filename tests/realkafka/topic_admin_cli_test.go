package realkafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/miaradia/rides-connect/internal/clicmd"
)

// createRidesWithCLI runs `rides-connect kafka topic create` in-process, as an
// operator would (secrets from the environment, truststore as JKS), when
// plugins/kafkafranz registers it; it reports whether it did.
func createRidesWithCLI(t *testing.T, be brokerEnv) bool {
	t.Helper()
	var kafka *cli.Command
	for _, c := range clicmd.All() {
		if c.Name == "kafka" {
			kafka = c
		}
	}
	if kafka == nil {
		t.Log("no `rides-connect kafka` subcommand registered: creating rides with kadm instead")
		return false
	}
	t.Setenv("KAFKA_PASS", be.pass)
	t.Setenv("TRUSTSTORE_PASSWORD", be.trustPassword)
	var out lockedBuffer
	app := &cli.App{
		Name:      "rides-connect",
		Commands:  []*cli.Command{kafka},
		Writer:    &out,
		ErrWriter: &out,
		// cli.Exit errors must come back to the test, not end the process.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	args := []string{"rides-connect", "kafka", "topic", "create",
		"--brokers", be.saslSSL,
		"--truststore", be.truststore, "--truststore-type", "jks",
		"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", be.user,
		"--topic", "rides", "--partitions", "6", "--replication-factor", "1",
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.RunContext(ctx, args); err != nil {
		t.Fatalf("rides-connect %s: %v\n%s", strings.Join(args[1:], " "), err, out.String())
	}
	t.Logf("rides-connect kafka topic create: %s", strings.TrimSpace(out.String()))
	for _, secret := range []string{be.pass, be.trustPassword} {
		if strings.Contains(out.String(), secret) {
			t.Error("a secret appears in the subcommand's output")
		}
	}
	return true
}
