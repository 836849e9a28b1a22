package realkafka

import (
	"context"
	"errors"
	"math"
	"os/exec"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
)

// Partitions added to the source topic while config/rides.yaml runs: stage 1
// learns the new count at its next rebalance and splits its bundles by it,
// which the internal topics (created with the old count) cannot take. The
// job must not write a wrong row: stage 2 holds the bundles split by the new
// count (a key's partials would be in two internal partitions), says why,
// and a restart is refused at start. The new partitions get no ride, so the
// per-partition reference over the old ones is the truth for every window
// the table has (session 40: before the hold, such bundles could reach
// stage 2, and only a cryptic franz-go error was logged).
func TestPartitionsAddedWhileTheJobRuns(t *testing.T) {
	be := needBroker(t)
	spec := harness.DefaultBacklog(40, envInt(t, "GROWN_RIDES", 60_000))
	spec.Partitions = 4
	b := newBacklogOf(t, be, "rides-grown", spec, false)
	half := make([][]harness.Record, len(b.parts))
	for p, recs := range b.parts {
		half[p] = recs[:len(recs)/2]
	}
	produceRecords(t, be, b.topic, half)

	job := newRidesJob(t, be, b.topic)
	// The shipped config, but stage 1 refreshes its metadata every 5 s
	// instead of every minute: it finds the new partitions sooner.
	job.conf = editedConfig(t, job.conf, map[string]string{"          fetch_max_wait: 50ms\n": "          fetch_max_wait: 50ms\n          metadata_max_age: 5s\n"})
	job.start(t)
	job.waitVersion(t, 0, 3*time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.adm.CreatePartitions(ctx, 2, b.topic); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: 4 → 6 partitions", b.topic)

	// The rest of the rides, to the old partitions, a slice a second, until
	// stage 1 has found the new partitions and stage 2
	// holds; then whatever is left.
	const slices = 150
	const hold = "the source topic has more partitions than the internal topic"
	held := false
	for s := 0; s < slices; s++ {
		slice := make([][]harness.Record, len(b.parts))
		for p, recs := range b.parts {
			rest := recs[len(recs)/2:]
			slice[p] = rest[len(rest)*s/slices : len(rest)*(s+1)/slices]
		}
		produceRecords(t, be, b.topic, slice)
		if !held {
			held = job.waitLogOr(t, hold, time.Second, func() bool { return false })
		}
	}
	if !held && !job.waitLogOr(t, hold, 2*time.Minute, func() bool { return false }) {
		job.fail(t, "stage 2 did not hold the bundles split over 6 internal partitions")
	}
	if !job.waitLogOr(t, "the source topic gained partitions while the job ran", 30*time.Second, func() bool { return false }) {
		job.fail(t, "stage 1's failed bundle writes do not name the grown source topic")
	}
	if got := scrapeMetrics(t, job.http)["window_config_held_batches_total"]; got < 1 {
		t.Errorf("window_config_held_batches_total = %v, want the held batch counted", got)
	}
	job.stop(t)

	// Every row written is the reference's, and none twice.
	got, version, err := harness.TableRows(context.Background(), job.table)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]harness.WindowRow{}
	for _, r := range b.want {
		want[r.City+" "+r.WinStart] = r
	}
	seen := map[string]bool{}
	for _, g := range got {
		k := g.City + " " + g.WinStart
		w, ok := want[k]
		if seen[k] || !ok || g.Cnt != w.Cnt || math.Float64bits(g.Revenue) != math.Float64bits(w.Revenue) || math.Float64bits(g.AvgDistance) != math.Float64bits(w.AvgDistance) {
			t.Errorf("row %v (%v, %v): twice %v, want %v", g, g.Revenue, g.AvgDistance, seen[k], w)
		}
		seen[k] = true
	}
	if len(got) == 0 {
		t.Fatal("no row written before the partitions were added")
	}
	t.Logf("table version %d: %d rows, each the reference's (%d windows in the reference)", version, len(got), len(b.want))

	// A restart is refused: the internal topics no longer match the source.
	job.start(t)
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	err = job.proc.Wait(wctx)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 4 {
		job.fail(t, "restart after the source topic grew: %v, want exit status 4", err)
	}
	if !job.waitLogOr(t, "they must be equal", time.Second, func() bool { return false }) {
		job.fail(t, "the refused restart does not say the partition counts differ")
	}
}
