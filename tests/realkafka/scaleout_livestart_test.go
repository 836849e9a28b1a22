package realkafka

import (
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
)

// One replica of config/rides-scaleout.yaml started on an empty topic of 6
// partitions; then a producer fills the partitions one after the other:
// partition 0's first 40 minutes of rides, and 3 s later everything else.
// The table equals the per-partition reference. Before, every partition was
// announced empty as soon as it was assigned (empty_partition_notices), so
// partition 0 alone closed the first windows and the other partitions' rows
// for them were closed early (the red team's live stream: 6-23 rows
// differed). An announcement now waits EMPTY_NOTICE_AFTER (5m) with nothing
// delivered, as long as a partition that stops delivering is waited for.
func TestScaleOutPartitionsFilledOneAfterAnotherAfterTheStartLoseNothing(t *testing.T) {
	be := needBroker(t)
	spec := harness.BacklogSpec{Seed: 81, Rides: 12_000, Partitions: 6,
		Start: time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), Span: 2 * time.Hour, Disorder: 5 * time.Minute}
	parts := spec.Generate()
	want, _, err := harness.PartitionedReference(harness.Rides(parts), 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	topic := uniqueName("rides-fillafter")
	adm := be.adminClient(t)
	createTopic(t, adm, topic, 6)
	createTopic(t, adm, topic+"-dlq", 1)

	job := newRidesJob(t, be, topic)
	// The shipped idle timeout (the harness's 0s turns announcements off).
	job.env = append(job.env, "WATERMARK_IDLE_TIMEOUT=5m")
	r := &replica{job: job, id: "replica-0"}
	t.Cleanup(r.kill)
	r.start(t)
	// Both inputs own their 6 partitions (empty, read to their end) before
	// the first ride is written.
	deadline := time.Now().Add(time.Minute)
	for {
		m, err := harness.ScrapeMetrics(r.http)
		if err == nil && m["kafka_input_partition_assigned"] >= 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions not assigned after a minute (last scrape error: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Partition 0's first third (40 minutes of event time: past the first
	// windows' ends plus the 10-minute delay), then, after a pause longer
	// than a stage-1 transaction (1 s), the rest of every partition.
	first := make([][]harness.Record, len(parts))
	rest := make([][]harness.Record, len(parts))
	copy(rest, parts)
	first[0], rest[0] = parts[0][:len(parts[0])/3], parts[0][len(parts[0])/3:]
	produceRecords(t, be, topic, first)
	time.Sleep(3 * time.Second) // the producer's pause: part of the scenario, not a wait for the job
	produceRecords(t, be, topic, rest)
	waitTableEquals(t, job, []*replica{r}, want, 2*time.Minute)
	m, err := harness.ScrapeMetrics(r.http)
	if err != nil {
		t.Fatal(err)
	}
	if n := m["window_late_rows_closed_early_total"]; n != 0 {
		t.Errorf("window_late_rows_closed_early_total = %v, want 0", n)
	}
}
