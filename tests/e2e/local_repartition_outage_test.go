package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
)

// The scale-out job of config/rides.yaml, whose internal topic
// refuses every write for a while (a fault injected into the broker, then
// removed): stage local's writes of its bundles fail and are retried, the
// bundles wait in its state meanwhile, and once the topic takes writes the
// job resumes by itself. The table then equals the per-partition reference,
// with no row twice, and every malformed record is dead-lettered. Session 21
// saw one drain of this job stay idle for good after its first write to the
// internal topic failed: a nack replays only the input messages a failed
// write maps back to, and those were not the rows whose processing closed
// the windows (the internal topic's writes are now retried in place, by
// the window's bundle writer; without a retry this test times out).
func TestLocalScaleOutRecoversFromAnInternalTopicOutage(t *testing.T) {
	t.Parallel()
	broker, fault := internalTopicDown(t)

	layout := freshLayout(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Rides keyed by rideId (spread over the 6 partitions by the default
	// partitioner), a malformed record every 500.
	values, keys, bad := keyedRides(knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 6000), 500)
	want := producedReference(ctx, t, broker, values, keys)

	job, url := startReplica(t, broker, layout, "replica-0")
	poll := func(what string, cond func() bool) { t.Helper(); pollJob(t, ctx, job, what, cond) }
	// Several retry rounds (the bundle writer's back-off grows from 100 ms),
	// the bundles waiting meanwhile.
	poll("failed writes to the internal topic", func() bool {
		m, _ := scrapeMetrics(url) // empty until /metrics answers
		return m["window_bundle_write_errors_total"] >= 8 && m["window_bundles_pending"] > 0
	})
	noRowsYet(ctx, t, layout)
	fault.Remove()

	got, err := harness.WaitForRows(ctx, layout.Table, len(want))
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, readFile(job.Log))
	}
	if d := harness.DiffRows(got, want); d != "" {
		t.Fatalf("after the outage the table differs from the reference:\n%s", d)
	}
	poll("every malformed record dead-lettered", func() bool {
		dlq, err := broker.ReadAll(ctx, "rides_dlq")
		return err == nil && len(dlq) >= bad
	})
	if err := job.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	final, _, err := harness.TableRows(ctx, layout.Table)
	if err != nil {
		t.Fatal(err)
	}
	if d := harness.DiffRows(final, want); d != "" {
		t.Fatalf("after the job stopped, the table differs from the reference:\n%s", d)
	}
	if dlq, err := broker.ReadAll(ctx, "rides_dlq"); err != nil || len(dlq) != bad {
		t.Fatalf("%d dead letters for %d malformed records (%v)", len(dlq), bad, err)
	}
	t.Logf("%d windows equal the reference after the internal topic refused writes; %d dead letters", len(want), bad)
}
