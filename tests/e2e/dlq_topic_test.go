package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
)

// startRides runs config/rides.yaml through the binary against broker, with
// extra environment on top of the layout's.
func startRides(t *testing.T, broker *harness.Broker, extraEnv ...string) *harness.Process {
	t.Helper()
	layout := harness.NewLayout(t.TempDir())
	if err := layout.Reset(); err != nil {
		t.Fatal(err)
	}
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := append(layout.JobEnv(broker.Addr, httpAddr), extraEnv...)
	p, err := harness.Start(binary, []string{"-c", filepath.Join(repoRoot, "config", "rides.yaml")},
		env, filepath.Join(layout.Logs, "rides.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// A broker without rides_dlq and without auto-creation (kfake's default; our
// client never asks for it anyway): the job must not start and retry the
// first dead letter forever (issue #10), but stop within seconds with the
// topic, the output label and the command that creates it.
func TestMissingDeadLetterTopicStopsTheJobAtStart(t *testing.T) {
	t.Parallel()
	broker, err := harness.StartBroker(map[string]int32{"rides": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	start := time.Now()
	job := startRides(t, broker)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = job.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatalf("the job still runs after 30 s without its dead-letter topic; log:\n%s", readFile(job.Log))
	}
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 4 {
		t.Fatalf("exit %v, want status 4 (missing topic); log:\n%s", err, readFile(job.Log))
	}
	log := readFile(job.Log)
	// Whichever dead-letter output connects first names itself (a two-stage
	// config has one per stage).
	if !regexp.MustCompile(`kafka_franz output dead_letter\w*: topic rides_dlq does not exist`).MatchString(log) {
		t.Errorf("log lacks the missing topic's error:\n%s", log)
	}
	for _, want := range []string{
		"rides-connect kafka topic create --brokers " + broker.Addr + " --topic rides_dlq --partitions 1 --replication-factor -1 --config max.message.bytes=8388608",
		"create_topic.enabled",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "does not exist") {
			t.Logf("stopped after %v with status 4: %s", took.Round(time.Millisecond), line)
			break
		}
	}
}

// The same broker, with DLQ_CREATE_TOPIC=true: the job creates rides_dlq
// with the configured partitions and dead-letters into it.
func TestDeadLetterTopicIsCreatedWhenConfigured(t *testing.T) {
	t.Parallel()
	broker, err := harness.StartBroker(map[string]int32{"rides": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	job := startRides(t, broker, "DLQ_CREATE_TOPIC=true", "DLQ_PARTITIONS=3")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := broker.Produce(ctx, "rides", [][]byte{[]byte(`{"rideId":`)}, nil); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		if job.Exited() {
			t.Fatalf("the job exited; log:\n%s", readFile(job.Log))
		}
		ends, err := adm.ListEndOffsets(ctx, "rides_dlq")
		var n int64
		parts := 0
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					n += o.Offset
					parts++
				}
			})
		}
		if n == 1 {
			if parts != 3 {
				t.Fatalf("rides_dlq has %d partitions, want DLQ_PARTITIONS=3", parts)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no dead letter in rides_dlq (%d records); log:\n%s", n, readFile(job.Log))
		case <-time.After(100 * time.Millisecond): // polling another process
		}
	}
	if err := job.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readFile(job.Log), "created topic rides_dlq (3 partitions, replication factor -1)") {
		t.Errorf("the creation is not logged:\n%s", readFile(job.Log))
	}
}
