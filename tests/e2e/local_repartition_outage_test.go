package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
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

	layout := harness.NewLayout(t.TempDir())
	if err := layout.Reset(); err != nil {
		t.Fatal(err)
	}
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Rides keyed by rideId (spread over the 6 partitions by the default
	// partitioner), a malformed record every 500.
	good := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 6000)
	var values, keys [][]byte
	bad := 0
	for i, r := range good {
		if i%500 == 250 {
			values, keys = append(values, []byte(`{"rideId":`)), append(keys, []byte("bad-"+strconv.Itoa(i)))
			bad++
		}
		v, _ := json.Marshal(r)
		values, keys = append(values, v), append(keys, []byte(strconv.FormatInt(r.RideID, 10)))
	}
	want := producedReference(ctx, t, broker, values, keys)

	job, err := harness.Start(binary, []string{"-c", filepath.Join(repoRoot, "config", "rides.yaml")},
		append(layout.JobEnv(broker.Addr, httpAddr), "KAFKA_INSTANCE_ID=replica-0"), filepath.Join(layout.Logs, "local.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(job.Kill)
	url := "http://" + httpAddr + "/metrics"
	poll := func(what string, cond func() bool) { t.Helper(); pollJob(t, ctx, job, what, cond) }
	// Several retry rounds (the bundle writer's back-off grows from 100 ms),
	// the bundles waiting meanwhile.
	poll("failed writes to the internal topic", func() bool {
		m, _ := scrapeMetrics(url) // empty until /metrics answers
		return m["window_bundle_write_errors_total"] >= 8 && m["window_bundles_pending"] > 0
	})
	if rows, _, err := harness.TableRows(ctx, layout.Table); err != nil || len(rows) != 0 {
		t.Fatalf("%d rows in the table while no bundle could be written (%v)", len(rows), err)
	}
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
