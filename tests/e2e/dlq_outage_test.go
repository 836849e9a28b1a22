package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/miaradia/rides-connect/internal/harness"
)

// The dead-letter topic refuses every write for a while (a fault injected into
// the broker, then removed) while rides and malformed records keep coming:
// the job must hold the malformed records (not drop them), stop reading at
// checkpoint_limit (bounded memory), turn /ready to 503 and show the failing
// output in /metrics; once the topic takes writes again it must resume by
// itself: each malformed record dead-lettered once, the windows exact.
func TestDeadLetterOutageHoldsTheStreamAndRecovers(t *testing.T) {
	t.Parallel()
	broker, err := harness.StartBroker(map[string]int32{"rides": 1, "rides_dlq": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	fault := broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "rides_dlq",
		Err: kerr.TopicAuthorizationFailed, Count: -1})
	defer fault.Remove()

	layout := harness.NewLayout(t.TempDir())
	if err := layout.Reset(); err != nil {
		t.Fatal(err)
	}
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	job, err := harness.Start(binary, []string{"-c", filepath.Join(repoRoot, "config", "rides.yaml")},
		append(layout.JobEnv(broker.Addr, httpAddr), "DLQ_NOT_READY_AFTER=1s"), filepath.Join(layout.Logs, "rides.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(job.Kill)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// More rides after the first malformed record than checkpoint_limit (8192).
	good := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 12000)
	values := make([][]byte, 0, len(good)+5)
	bad := map[int]bool{}
	for i, r := range good {
		if i%2000 == 100 {
			bad[len(values)] = true
			values = append(values, []byte(`{"rideId":`))
		}
		v, _ := json.Marshal(r)
		values = append(values, v)
	}
	if err := broker.Produce(ctx, "rides", values, nil); err != nil {
		t.Fatal(err)
	}

	poll := func(what string, cond func() bool) { t.Helper(); pollJob(t, ctx, job, what, cond) }
	// ready returns /ready's status and whether it names dead_letter as not connected.
	ready := func() (int, bool) {
		resp, err := http.Get("http://" + httpAddr + "/ready")
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var body struct {
			Statuses []struct {
				Label     string `json:"label"`
				Connected bool   `json:"connected"`
			} `json:"statuses"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		down := false
		for _, s := range body.Statuses {
			down = down || (s.Label == "dead_letter" && !s.Connected)
		}
		return resp.StatusCode, down
	}
	url := "http://" + httpAddr + "/metrics"
	metric := func(name string) float64 { m, _ := scrapeMetrics(url); return m[name] } // 0 until it answers
	poll("output_failing_seconds past DLQ_NOT_READY_AFTER", func() bool { return metric("output_failing_seconds") >= 1.5 })
	poll("/ready 503 naming dead_letter", func() bool { code, down := ready(); return code == http.StatusServiceUnavailable && down })
	poll("the input paused at checkpoint_limit", func() bool { return metric("kafka_input_paused_partitions") >= 1 })
	m := scrape(t, url)
	if m["output_delivery_failures_total"] < 1 {
		t.Fatalf("output_delivery_failures_total = %v during the outage", m["output_delivery_failures_total"])
	}
	if dlq, err := broker.ReadAll(ctx, "rides_dlq"); err != nil || len(dlq) != 0 {
		t.Fatalf("dead letters written through the fault: %d (%v)", len(dlq), err)
	}
	// The held malformed record (offset 100) holds the group's commit point.
	if off := committedOffset(t, broker.Addr, "rides-connect-rides", "rides"); off > 100 {
		t.Fatalf("committed offset %d passed the first malformed record (100) while it could not be dead-lettered", off)
	}
	t.Logf("during the outage: /ready 503, paused partitions %v, output_failing_seconds %.1f, %v failed writes",
		m["kafka_input_paused_partitions"], m["output_failing_seconds"], m["output_delivery_failures_total"])

	fault.Remove()
	want, err := harness.ReferenceWindows(good, 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForRows(ctx, layout.Table, len(want)); err != nil {
		t.Fatalf("%v; log:\n%s", err, readFile(job.Log))
	}
	poll("/ready 200 after the outage", func() bool { code, _ := ready(); return code == http.StatusOK })
	// The windows can be complete while the held dead letters are still in
	// the output's retry back-off: recovery is done when the input is no
	// longer paused and the output no longer failing (bounded by ctx).
	poll("the input resumed and the output delivering", func() bool {
		m := scrape(t, url)
		return m["output_failing_seconds"] == 0 && m["kafka_input_paused_partitions"] == 0
	})
	poll("every malformed record dead-lettered", func() bool {
		dlq, err := broker.ReadAll(ctx, "rides_dlq")
		return err == nil && len(dlq) >= len(bad)
	})
	if err := job.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}

	dlq, err := broker.ReadAll(ctx, "rides_dlq")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range dlq {
		var env struct{ Source struct{ Offset string } }
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		seen[env.Source.Offset]++
	}
	if len(dlq) != len(bad) || len(seen) != len(bad) {
		t.Fatalf("dead-letter topic: %d records over %d offsets, want each of the %d malformed records once: %v", len(dlq), len(seen), len(bad), seen)
	}
	rows, _, err := harness.TableRows(ctx, layout.Table)
	if err != nil {
		t.Fatal(err)
	}
	if diff := harness.DiffRows(rows, want); diff != "" {
		t.Fatalf("windows after the outage differ from the reference:\n%s", diff)
	}
}

// committedOffset is the group's committed offset of partition 0 (-1 when none).
func committedOffset(t *testing.T, addr, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); ok {
		return o.At
	}
	return -1
}

// pollJob waits, polling every 100 ms, until cond holds; it fails the test
// with the job's log if the job exits or ctx ends first.
func pollJob(t *testing.T, ctx context.Context, job *harness.Process, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if job.Exited() {
			t.Fatalf("the job exited while waiting for %s; log:\n%s", what, readFile(job.Log))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; log:\n%s", what, readFile(job.Log))
		case <-time.After(100 * time.Millisecond): // polling another process
		}
	}
}
