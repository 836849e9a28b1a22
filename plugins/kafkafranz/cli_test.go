package kafkafranz

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/urfave/cli/v2"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/internal/testpki"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	app := &cli.App{Name: "rides-connect", Commands: []*cli.Command{kafkaCommand()}, Writer: &out, ErrWriter: &out,
		ExitErrHandler: func(*cli.Context, error) {}}
	err := app.RunContext(context.Background(), append([]string{"rides-connect"}, args...))
	return out.String(), err
}

func TestTopicCreateAndList(t *testing.T) {
	_, addr := newCluster(t, kfake.NumBrokers(3))
	out, err := runCLI(t, nil, "kafka", "topic", "create", "--brokers", addr, "--topic", "rides",
		"--partitions", "6", "--replication-factor", "3", "--config", "retention.ms=3600000")
	if err != nil || !strings.Contains(out, "created topic rides with 6 partitions") {
		t.Fatalf("create: %v %s", err, out)
	}
	out, err = runCLI(t, nil, "kafka", "topic", "list", "--brokers", addr)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "rides" {
			found = f[1] == "6" && f[2] == "3"
		}
	}
	if !found {
		t.Fatalf("list does not show rides 6 3:\n%s", out)
	}
	if _, err := runCLI(t, nil, "kafka", "topic", "create", "--brokers", addr, "--topic", "rides"); err == nil {
		t.Fatal("creating an existing topic must fail without --if-not-exists")
	}
	if out, err := runCLI(t, nil, "kafka", "topic", "create", "--brokers", addr, "--topic", "rides", "--if-not-exists"); err != nil || !strings.Contains(out, "already exists") {
		t.Fatalf("--if-not-exists: %v %s", err, out)
	}
}

// Over SASL_SSL with credentials from the environment and a JKS truststore;
// a wrong password fails naming the user, not the password.
func TestTopicCreateSASLSSL(t *testing.T) {
	pki := testpki.New(t)
	_, addr := newCluster(t, kfake.TLS(pki.ServerTLS()), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "rides", "s3cret-pass"))
	jks := pki.WriteJKS(t, t.TempDir(), "changeit")
	env := map[string]string{"KAFKA_USER": "rides", "KAFKA_PASS": "s3cret-pass", "TRUSTSTORE_PASSWORD": "changeit"}
	if out, err := runCLI(t, env, "kafka", "topic", "create", "--brokers", addr, "--truststore", jks, "--topic", "rides"); err != nil {
		t.Fatalf("create over SASL_SSL: %v %s", err, out)
	}
	env["KAFKA_PASS"] = "bad-Pa55"
	_, err := runCLI(t, env, "kafka", "topic", "list", "--brokers", addr, "--truststore", jks, "--timeout", "5s")
	if err == nil || !strings.Contains(err.Error(), `SCRAM-SHA-512 user "rides"`) || strings.Contains(err.Error(), "bad-Pa55") {
		t.Fatalf("wrong password error: %v", err)
	}
}
