package realkafka

import (
	"context"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
)

// One replica of config/rides-scaleout.yaml on a topic of 3 partitions whose
// producer put every ride in partition 0 (2 000 rides over an hour), with
// an idle timeout of an hour, which the test does not wait for: partitions 1
// and 2 never receive a record, and their
// owner announces them empty (kafka_franz empty_partition_notices), so the
// windows partition 0 closes reach Delta, equal to the reference of
// partition 0 alone. Before, no window ever closed (issue 12, measured on 4
// Dec: no row after 60 s with WATERMARK_IDLE_TIMEOUT=20s). The table is
// complete only after EMPTY_NOTICE_AFTER (3 s here).
func TestScaleOutRecordsInOnePartitionOfThreeReachDelta(t *testing.T) {
	be := needBroker(t)
	spec := harness.BacklogSpec{Seed: 23, Rides: 2_000, Partitions: 1,
		Start: time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), Span: time.Hour, Disorder: 2 * time.Minute}
	p0 := spec.Generate()[0]
	want, _, err := harness.PartitionedReference(harness.Rides([][]harness.Record{p0}), 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("the reference closes no window")
	}
	topic := uniqueName("rides-onepart")
	adm := be.adminClient(t)
	createTopic(t, adm, topic, 3)
	createTopic(t, adm, topic+"-dlq", 1)
	produceRecords(t, be, topic, [][]harness.Record{p0, nil, nil})

	job := newRidesJob(t, be, topic)
	// Idleness does not close these windows within the test's 2 minutes; the
	// announcements need it on (with 0s, exact tables, none is made). They go
	// out once partitions 1 and 2 have been owned for EMPTY_NOTICE_AFTER with
	// nothing delivered (5m in the config).
	job.env = append(job.env, "WATERMARK_IDLE_TIMEOUT=1h", "EMPTY_NOTICE_AFTER=3s")
	r := &replica{job: job, id: "replica-0"}
	t.Cleanup(r.kill)
	start := time.Now()
	r.start(t)
	got := waitTableEquals(t, job, []*replica{r}, want, 2*time.Minute)
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("table complete %v after the start, before EMPTY_NOTICE_AFTER (3s) could announce partitions 1 and 2", d)
	}
	t.Logf("table equal to partition 0's reference (%d windows) %v after the replica started",
		len(got), time.Since(start).Round(time.Millisecond))
	m, err := harness.ScrapeMetrics(r.http)
	if err != nil {
		t.Fatal(err)
	}
	if n := m["window_late_rows_closed_early_total"]; n != 0 {
		t.Errorf("window_late_rows_closed_early_total = %v, want 0", n)
	}
	if err := r.proc.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	final, version, err := harness.TableRows(context.Background(), job.table)
	if err != nil {
		t.Fatal(err)
	}
	if d := harness.DiffRows(final, want); d != "" {
		t.Fatalf("after the replica stopped, the table (version %d) differs:\n%s", version, d)
	}
}
