package kafkafranz

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The CLI path `rides-connect -c config.yaml` (Benthos' RunCLIToCode, run in
// process) with fail_on_data_loss: true and a committed offset that fell out
// of the log: the input stops, Benthos ends the pipeline as a normal end of
// input and reports exit status 0 (measured here, so a Benthos change shows
// up), the log says STOPPED ON DATA LOSS, and ExitCode turns the 0 into
// ExitCodeDataLoss for the main package.
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
logger: { level: warn }
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
	logs := &syncBuffer{lines: make(chan string, 100)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := service.RunCLIToCode(ctx,
		service.CLIOptSetArgs("rides-connect", "-c", conf),
		service.CLIOptAddTeeLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if ctx.Err() != nil {
		t.Fatal("the service did not stop by itself on the data loss")
	}
	t.Logf("Benthos exit status after the data-loss stop: %d (err %v)", code, err)
	if code != 0 {
		t.Errorf("Benthos now exits %d on an input's end: update fatal.go and docs/kafka.md", code)
	}
	if !strings.Contains(logs.String(), "KAFKA_FRANZ INPUT STOPPED ON DATA LOSS") || !strings.Contains(logs.String(), "[20, 30)") {
		t.Errorf("the stop and the lost range are not in the log:\n%s", logs.String())
	}
	if FatalDataLoss() == nil {
		t.Fatal("FatalDataLoss() is nil after the stop")
	}
	if got := ExitCode(code); got != ExitCodeDataLoss {
		t.Errorf("ExitCode(%d) = %d, want %d", code, got, ExitCodeDataLoss)
	}
	if got := ExitCode(1); got != 1 {
		t.Errorf("ExitCode(1) = %d: a Benthos failure status must be kept", got)
	}
}
