package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/clicmd"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The CLI path `rides-connect -c config.yaml` with fail_on_data_loss: true and
// a committed offset that fell out of the log, run as a real child process
// (this test binary re-executed): the input stops and the log says STOPPED ON
// DATA LOSS with the range. Plain Benthos ends the pipeline as a normal end of
// input and exits 0 (measured, so a Benthos change shows up); cmd/rides-connect's
// main maps the status with clicmd.ExitCode and exits ExitCodeDataLoss.
func TestFailOnDataLossExitCode(t *testing.T) {
	c0, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	produce(t, addr, "rides", 0, 40)
	if err := c0.DeleteRecords("rides", 0, 30); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	offs.AddOffset("rides", 0, 20, -1) // committed before retention removed [20, 30)
	resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "exit", offs)
	cl.Close()
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "loss.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `
http: { enabled: false }
logger: { level: warn, format: logfmt }
input:
  kafka_franz:
    seed_brokers: [ %q ]
    topics: [ rides ]
    consumer_group: exit
    fail_on_data_loss: true
output:
  drop: {}
`, addr), 0o600); err != nil {
		t.Fatal(err)
	}

	for mode, want := range map[string]int{"runcli": 0, "mapped": ExitCodeDataLoss} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperRidesConnectMain$")
		cmd.Env = append(os.Environ(), "KAFKAFRANZ_HELPER_MODE="+mode, "KAFKAFRANZ_HELPER_CONF="+conf)
		out, err := cmd.CombinedOutput()
		cancel()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		t.Logf("%s: exit status %d", mode, code)
		if code != want {
			t.Errorf("%s: exit status %d, want %d\n%s", mode, code, want, out)
		}
		if !strings.Contains(string(out), "KAFKA_FRANZ INPUT STOPPED ON DATA LOSS") || !strings.Contains(string(out), "[20, 30)") {
			t.Errorf("%s: the stop and the lost range are not in the log:\n%s", mode, out)
		}
	}
}

// TestHelperRidesConnectMain is the child process of TestFailOnDataLossExitCode:
// it does what plain Benthos does (runcli) or what cmd/rides-connect's main
// does, the exit status mapped through clicmd.ExitCode (mapped), then exits.
func TestHelperRidesConnectMain(t *testing.T) {
	mode, conf := os.Getenv("KAFKAFRANZ_HELPER_MODE"), os.Getenv("KAFKAFRANZ_HELPER_CONF")
	if mode == "" {
		t.Skip("child process of TestFailOnDataLossExitCode; runs only when it starts this binary")
	}
	opts := []service.CLIOptFunc{service.CLIOptSetArgs("rides-connect", "-c", conf)}
	if mode == "runcli" {
		service.RunCLI(context.Background(), opts...) // exits non-zero itself, returns on 0
		os.Exit(0)                                    // main returning
	}
	code, _ := service.RunCLIToCode(context.Background(), opts...)
	os.Exit(clicmd.ExitCode(code))
}
