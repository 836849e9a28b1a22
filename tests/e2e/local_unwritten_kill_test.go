package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
)

// One replica of config/rides.yaml drains a backlog while its
// internal topic refuses every write: its bundles wait in the partitions'
// states, and its offsets commit past their rides all the same (that is
// what bundles.output is for). It is SIGKILLed at the end of the backlog,
// the topic heals, and a new replica starts with nothing left to read: no
// record will ever make it load a partition. It loads each on the
// partition's caught-up notice, at once (the empty-partition notices wait
// for the config's 5 minutes), and sends the bundles again; the table equals
// the per-partition reference. (Before session 30, it announced every
// partition empty after those 5 minutes and the table stayed empty.)
func TestLocalScaleOutSendsTheBundlesOfAReplicaKilledWithThemUnwritten(t *testing.T) {
	t.Parallel()
	broker, fault := internalTopicDown(t)

	layout := freshLayout(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// 1200 rides over 6.7 hours: fewer unwritten bundles than
	// bundles.max_pending, so the input is never held.
	values, keys, _ := keyedRides(knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 1200), 0)
	want := producedReference(ctx, t, broker, values, keys)

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	first, url := startReplica(t, broker, layout, "replica-0")
	pollJob(t, ctx, first, "the backlog committed with its bundles unwritten", func() bool {
		m, _ := scrapeMetrics(url)
		return m["window_bundles_pending"] > 0 && harness.Drained(ctx, adm, localGroup, "rides")
	})
	first.Kill()
	noRowsYet(ctx, t, layout)
	fault.Remove()

	second, _ := startReplica(t, broker, layout, "replica-1")
	waitCtx, stop := context.WithTimeout(ctx, 2*time.Minute)
	defer stop()
	got, err := harness.WaitForRows(waitCtx, layout.Table, len(want))
	if err != nil {
		t.Fatalf("the replica that took over sent no bundles again: %v; log:\n%s", err, readFile(second.Log))
	}
	if d := harness.DiffRows(got, want); d != "" {
		t.Fatalf("the table differs from the reference:\n%s", d)
	}
	if err := second.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	t.Logf("%d windows equal the reference after a SIGKILL with every bundle unwritten", len(want))
}
