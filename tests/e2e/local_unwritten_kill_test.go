package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
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

	layout := harness.NewLayout(t.TempDir())
	if err := layout.Reset(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// 1200 rides over 6.7 hours: fewer unwritten bundles than
	// bundles.max_pending, so the input is never held.
	good := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 1200)
	values, keys := make([][]byte, len(good)), make([][]byte, len(good))
	for i, r := range good {
		values[i], _ = json.Marshal(r)
		keys[i] = []byte(strconv.FormatInt(r.RideID, 10))
	}
	want := producedReference(ctx, t, broker, values, keys)

	start := func(name string) (*harness.Process, string) {
		httpAddr, err := harness.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		env := append(layout.JobEnv(broker.Addr, httpAddr), "KAFKA_INSTANCE_ID="+name)
		job, err := harness.Start(binary, []string{"-c", filepath.Join(repoRoot, "config", "rides.yaml")},
			env, filepath.Join(layout.Logs, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(job.Kill)
		return job, "http://" + httpAddr + "/metrics"
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	first, url := start("replica-0")
	pollJob(t, ctx, first, "the backlog committed with its bundles unwritten", func() bool {
		m, _ := scrapeMetrics(url)
		return m["window_bundles_pending"] > 0 && harness.Drained(ctx, adm, localGroup, "rides")
	})
	first.Kill()
	if rows, _, err := harness.TableRows(ctx, layout.Table); err != nil || len(rows) != 0 {
		t.Fatalf("%d rows in the table while no bundle could be written (%v)", len(rows), err)
	}
	fault.Remove()

	second, _ := start("replica-1")
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
