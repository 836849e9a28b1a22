package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
)

// lostStateLog is the hold's log line (plugins/window/lost_state.go).
const lostStateLog = "started empty, but partition rides/0 resumed at offset"

// startIn runs config/rides.yaml through the binary on layout (its
// checkpoint and table kept between runs), extra environment last.
func startIn(t *testing.T, layout harness.Layout, broker *harness.Broker, extraEnv ...string) *harness.Process {
	t.Helper()
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := append(layout.JobEnv(broker.Addr, httpAddr), extraEnv...)
	p, err := harness.Start(binary, []string{"-c", filepath.Join(repoRoot, "config", "rides.yaml")},
		env, filepath.Join(layout.Logs, fmt.Sprintf("rides-%d.log", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// committedOr is the rides job's committed offset of rides/0, -1 when none
// or the group does not exist yet.
func committedOr(addr string) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return -1
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "rides-connect-rides")
	if err != nil {
		return -1
	}
	if o, ok := offs.Lookup("rides", 0); ok {
		return o.At
	}
	return -1
}

// waitFor polls cond until it holds; the deadline only guards a hang.
func waitFor(t *testing.T, job *harness.Process, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if job.Exited() || time.Now().After(deadline) {
			t.Fatalf("waiting for %s: exited %v; log:\n%s", what, job.Exited(), readFile(job.Log))
		}
	}
}

// oneRidesPartition is a kfake broker with one partition of rides (and
// the dead-letter topic), closed with the test, and a fresh job layout.
func oneRidesPartition(t *testing.T) (*harness.Broker, harness.Layout) {
	t.Helper()
	broker, err := harness.StartBroker(map[string]int32{"rides": 1, "rides_dlq": 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	layout := harness.NewLayout(t.TempDir())
	if err := layout.Reset(); err != nil {
		t.Fatal(err)
	}
	return broker, layout
}

// The red team's Defect A (session 15): the checkpoint deleted after the
// group committed offsets but before the first window closed. The restart
// resumed from the committed offsets onto an empty state and wrote the
// first windows without the records before them, silently. It must hold:
// the log names the cause, no offset moves, no row is written.
func TestACheckpointLostBeforeTheFirstWindowClosedHoldsTheJob(t *testing.T) {
	t.Parallel()
	broker, layout := oneRidesPartition(t)
	ctx := context.Background()
	rides := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 120)
	// 08:00 .. 08:09:40: no window closes (the first needs an event at 08:15).
	if err := broker.Produce(ctx, "rides", encode(t, rides[:30]), nil); err != nil {
		t.Fatal(err)
	}
	job := startIn(t, layout, broker)
	waitFor(t, job, "offset 30 committed", func() bool { return committedOr(broker.Addr) == 30 })
	if err := job.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(layout.Checkpoint); err != nil {
		t.Fatal(err)
	}
	if err := broker.Produce(ctx, "rides", encode(t, rides[30:]), nil); err != nil {
		t.Fatal(err)
	}
	job = startIn(t, layout, broker)
	waitFor(t, job, "the hold's log line", func() bool { return strings.Contains(readFile(job.Log), lostStateLog) })
	if got := committedOr(broker.Addr); got != 30 {
		t.Fatalf("committed %d while held, want 30", got)
	}
	if err := job.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if rows, _, err := harness.TableRows(ctx, layout.Table); err != nil || len(rows) != 0 {
		t.Fatalf("table rows %d (%v), want none: windows without the records before the commit", len(rows), err)
	}
}

// The case that made the first guard hold for ever: start_offset latest
// commits the log end at assignment, and a process SIGKILLed before its
// first state write restarts with an empty state and that commit. It is
// not a lost state: the restart runs and writes the reference windows.
func TestALatestStartKilledBeforeTheFirstStateWriteRestarts(t *testing.T) {
	t.Parallel()
	broker, layout := oneRidesPartition(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	job := startIn(t, layout, broker, "KAFKA_START=latest")
	waitFor(t, job, "the start committed", func() bool { return committedOr(broker.Addr) == 0 })
	job.Kill()
	if ents, _ := os.ReadDir(layout.Checkpoint); len(ents) != 0 {
		t.Fatalf("a state was written before any record: %v", ents)
	}
	rides := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 120)
	if err := broker.Produce(ctx, "rides", encode(t, rides), nil); err != nil {
		t.Fatal(err)
	}
	job = startIn(t, layout, broker, "KAFKA_START=latest")
	want, err := harness.ReferenceWindows(rides, 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, job, "every window in the table", func() bool {
		rows, _, err := harness.TableRows(ctx, layout.Table)
		return err == nil && len(rows) >= len(want)
	})
	if err := job.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _, err := harness.TableRows(ctx, layout.Table)
	if err != nil {
		t.Fatal(err)
	}
	if diff := harness.DiffRows(got, want); diff != "" {
		t.Fatalf("table differs from the reference:\n%s", diff)
	}
	if log := readFile(job.Log); strings.Contains(log, "started empty") {
		t.Fatalf("the restart took the start commit for a lost state:\n%s", log)
	}
}
