package realkafka

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
)

// backlog is a harness backlog of rides in a fresh topic (and its
// dead-letter topic) with the per-partition reference of its windows: what
// every exactness test of this tier starts from.
type backlog struct {
	topic    string
	adm      *kadm.Client
	parts    [][]harness.Record
	want     []harness.WindowRow
	wantLate int
}

// newBacklog generates n rides from seed, computes their reference (5-minute
// windows, 10-minute delay, lateness per partition) and creates the topics
// named after prefix; the records are produced only if produce is set (a
// live test writes them while its job runs).
func newBacklog(t *testing.T, be brokerEnv, prefix string, seed int64, n int, produce bool) backlog {
	t.Helper()
	return newBacklogOf(t, be, prefix, harness.DefaultBacklog(seed, n), produce)
}

// newBacklogOf is newBacklog for any spec.
func newBacklogOf(t *testing.T, be brokerEnv, prefix string, spec harness.BacklogSpec, produce bool) backlog {
	t.Helper()
	n := spec.Rides
	b := backlog{parts: spec.Generate(), topic: uniqueName(prefix), adm: be.adminClient(t)}
	var err error
	b.want, b.wantLate, err = harness.PartitionedReference(harness.Rides(b.parts), 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, b.adm, b.topic, int32(spec.Partitions))
	createTopic(t, b.adm, b.topic+"-dlq", 1)
	if produce {
		start := time.Now()
		produceRecords(t, be, b.topic, b.parts)
		t.Logf("produced %d records in %v", n, time.Since(start).Round(time.Millisecond))
	}
	return b
}
