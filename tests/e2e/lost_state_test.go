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

// holdConfig is a job config and the log line of its hold on a lost state.
type holdConfig struct {
	config, lostStateLog string
}

// holdConfigs are the two forms of the rides job: config/rides.yaml (stage
// local, a state per source partition, plugins/window/stage_local.go) and
// config/rides-single.yaml (stage full, plugins/window/lost_state.go).
var holdConfigs = []holdConfig{
	{"rides.yaml", "but the group committed rides/0 up to offset 30: its open windows are lost"},
	{"rides-single.yaml", "started empty, but partition rides/0 resumed at offset"},
}

// heldJob is a job started by startConfig, with its /metrics address.
type heldJob struct {
	*harness.Process
	http string
}

// lostGauge is the job's window_state_lost (-1 when not scraped).
func (j *heldJob) lostGauge() float64 {
	m, err := harness.ScrapeMetrics(j.http)
	if v, ok := m["window_state_lost"]; err == nil && ok {
		return v
	}
	return -1
}

// startConfig runs config/<config> through the binary on layout (its
// checkpoint and table kept between runs), extra environment last.
func startConfig(t *testing.T, config string, layout harness.Layout, broker *harness.Broker, extraEnv ...string) *heldJob {
	t.Helper()
	return startConfigPath(t, filepath.Join(repoRoot, "config", config), layout, broker, extraEnv...)
}

// startConfigPath is startConfig for a config file anywhere.
func startConfigPath(t *testing.T, config string, layout harness.Layout, broker *harness.Broker, extraEnv ...string) *heldJob {
	t.Helper()
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := append(layout.JobEnv(broker.Addr, httpAddr), extraEnv...)
	p, err := harness.Start(binary, []string{"-c", config},
		env, filepath.Join(layout.Logs, fmt.Sprintf("rides-%d.log", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return &heldJob{Process: p, http: httpAddr}
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
	return broker, freshLayout(t)
}

// The red team's Defect A (session 15): the checkpoint deleted after the
// group committed offsets but before the first window closed. The restart
// resumed from the committed offsets onto an empty state and wrote the
// first windows without the records before them, silently. It must hold:
// the log names the cause, no offset moves, no row is written.
func TestACheckpointLostBeforeTheFirstWindowClosedHoldsTheJob(t *testing.T) {
	t.Parallel()
	eachHoldConfig(t, lostCheckpointHolds)
}

// eachHoldConfig runs f on each of holdConfigs, in parallel subtests.
func eachHoldConfig(t *testing.T, f func(t *testing.T, c holdConfig)) {
	for _, c := range holdConfigs {
		t.Run(c.config, func(t *testing.T) {
			t.Parallel()
			f(t, c)
		})
	}
}

func lostCheckpointHolds(t *testing.T, c holdConfig) {
	broker, layout := oneRidesPartition(t)
	ctx := context.Background()
	rides := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 120)
	// 08:00 .. 08:09:40: no window closes (the first needs an event at 08:15).
	if err := broker.Produce(ctx, "rides", encode(t, rides[:30]), nil); err != nil {
		t.Fatal(err)
	}
	job := startConfig(t, c.config, layout, broker)
	waitFor(t, job.Process, "offset 30 committed", func() bool { return committedOr(broker.Addr) == 30 })
	if err := job.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(layout.Checkpoint); err != nil {
		t.Fatal(err)
	}
	if err := broker.Produce(ctx, "rides", encode(t, rides[30:]), nil); err != nil {
		t.Fatal(err)
	}
	holdsAt30(t, startConfig(t, c.config, layout, broker), c.lostStateLog, broker, layout)
}

// holdsAt30 checks a job that must hold on its state of rides/0 with the
// group's commit at 30: it logs line, sets window_state_lost to 1, commits
// nothing more and writes no row (it is stopped here).
func holdsAt30(t *testing.T, job *heldJob, line string, broker *harness.Broker, layout harness.Layout) {
	t.Helper()
	waitFor(t, job.Process, "the hold's log line", func() bool { return strings.Contains(readFile(job.Log), line) })
	if got := job.lostGauge(); got != 1 {
		t.Fatalf("window_state_lost %v while one partition is held, want 1 (alert RidesWindowStateLost)", got)
	}
	if got := committedOr(broker.Addr); got != 30 {
		t.Fatalf("committed %d while held, want 30", got)
	}
	if err := job.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if rows, _, err := harness.TableRows(context.Background(), layout.Table); err != nil || len(rows) != 0 {
		t.Fatalf("table rows %d (%v), want none: windows without the records before the commit", len(rows), err)
	}
}

// The case that made the first guard hold for ever: start_offset latest
// commits the log end at assignment, and a process SIGKILLed before its
// first state write restarts with an empty state and that commit. It is
// not a lost state: the restart runs and writes the reference windows.
func TestALatestStartKilledBeforeTheFirstStateWriteRestarts(t *testing.T) {
	t.Parallel()
	eachHoldConfig(t, latestStartRestarts)
}

func latestStartRestarts(t *testing.T, c holdConfig) {
	broker, layout := oneRidesPartition(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	job := startConfig(t, c.config, layout, broker, "KAFKA_START=latest")
	waitFor(t, job.Process, "the start committed", func() bool { return committedOr(broker.Addr) == 0 })
	job.Kill()
	if ents, _ := os.ReadDir(layout.Checkpoint); len(ents) != 0 {
		t.Fatalf("a state was written before any record: %v", ents)
	}
	rides := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 120)
	if err := broker.Produce(ctx, "rides", encode(t, rides), nil); err != nil {
		t.Fatal(err)
	}
	job = startConfig(t, c.config, layout, broker, "KAFKA_START=latest")
	stopWithReferenceTable(ctx, t, job, layout, rides)
	if log := readFile(job.Log); strings.Contains(log, "started empty") || strings.Contains(log, "has no state") {
		t.Fatalf("the restart took the start commit for a lost state:\n%s", log)
	}
}

// Moving a running config/rides-single.yaml job to config/rides.yaml in
// place (same group, same checkpoint) would start stage local on the
// group's commits with none of its per-partition states: the rides before
// those commits, in stage full's open windows, would be missing from the
// new job's windows. It must hold, naming the cause, as on a lost state
// (docs/scale-out.md, "Moving a running job over").
func TestRidesYAMLOnARunningSingleJobsGroupHolds(t *testing.T) {
	t.Parallel()
	broker, layout := oneRidesPartition(t)
	ctx := context.Background()
	rides := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 120)
	if err := broker.Produce(ctx, "rides", encode(t, rides[:30]), nil); err != nil {
		t.Fatal(err)
	}
	job := startConfig(t, "rides-single.yaml", layout, broker)
	waitFor(t, job.Process, "offset 30 committed", func() bool { return committedOr(broker.Addr) == 30 })
	if err := job.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := broker.Produce(ctx, "rides", encode(t, rides[30:]), nil); err != nil {
		t.Fatal(err)
	}
	holdsAt30(t, startConfig(t, "rides.yaml", layout, broker), holdConfigs[0].lostStateLog, broker, layout)
}

// stopWithReferenceTable waits until the table has as many rows as the
// reference windows of rides, stops job and checks the table equals them.
func stopWithReferenceTable(ctx context.Context, t *testing.T, job *heldJob, layout harness.Layout, rides []harness.Ride) {
	t.Helper()
	want, err := harness.ReferenceWindows(rides, 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, job.Process, "every window in the table", func() bool {
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
}
