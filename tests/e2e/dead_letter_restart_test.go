package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A run whose first batch of a partition is only malformed records (a live
// stream at a low rate after a restart: one bad record) commits past them.
// The next run must take that commit as covered, not as a lost state: stage
// local once wrote no state for a partition it had not loaded, so the third
// run below held rides/0 for good ("has no state … its open windows are
// lost"). Both forms of the job run it and write the reference windows.
func TestADeadLetterOnlyRunBetweenRestartsIsNoLostState(t *testing.T) {
	t.Parallel()
	eachHoldConfig(t, func(t *testing.T, c holdConfig) {
		restartsThrough(t, filepath.Join(repoRoot, "config", c.config), [][]byte{[]byte(`{"rideId":`), []byte(`not json`)})
	})
}

// restartsThrough runs config (a path) three times on one partition of
// rides: to the commit of 30 rides, to the commit of middle (records that do
// not reach the window), to the commit of 90 more rides; the last run must
// hold nothing and write the reference windows of the 120 rides.
func restartsThrough(t *testing.T, config string, middle [][]byte) {
	broker, layout := oneRidesPartition(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rides := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 120)
	runTo := func(values [][]byte, commit int64) *heldJob {
		t.Helper()
		if err := broker.Produce(ctx, "rides", values, nil); err != nil {
			t.Fatal(err)
		}
		job := startConfigPath(t, config, layout, broker)
		waitFor(t, job.Process, "the commit past the new records", func() bool { return committedOr(broker.Addr) == commit })
		return job
	}
	stop := func(job *heldJob) {
		t.Helper()
		if err := job.Stop(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	stop(runTo(encode(t, rides[:30]), 30))
	stop(runTo(middle, 30+int64(len(middle))))
	job := runTo(encode(t, rides[30:]), 120+int64(len(middle)))
	stopWithReferenceTable(ctx, t, job, layout, rides)
	if log := readFile(job.Log); strings.Contains(log, "has no state") || strings.Contains(log, "started empty") || strings.Contains(log, "holding") {
		t.Fatalf("the run after the one of records that never reached the window held a state:\n%s", log)
	}
}
