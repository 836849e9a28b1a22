package window

import (
	"context"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// resumed is a ride of partition part at offset off of a consumer that
// resumed the partition from committed offset start (-1: none).
func resumed(part, off, start int) *service.Message {
	m := msg("FR", "2026-03-14T08:01:00Z", 2, 3, part, off)
	m.MetaSetMut(partitionsMeta, 2)
	m.MetaSetMut(startMeta, start)
	return m
}

// A state that started empty while the group had already committed
// offsets of a partition was lost: the batch is held, nothing applied,
// until shutdown, with an error that says so. (Before, the job went on
// from the committed offsets onto an empty state and closed the first
// windows without the records before them: 36 of 852 rows wrong, no
// warning, in the red team's run.)
func TestAStateThatStartedEmptyIsHeldWhenTheGroupHadCommitted(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the shutdown that ends the hold
	_, err := p.ProcessBatch(ctx, service.MessageBatch{resumed(0, 600, 600), resumed(0, 601, 600)})
	if err == nil || !strings.Contains(err.Error(), "started empty") || !strings.Contains(err.Error(), "committed offset 600 of rides/0") {
		t.Fatalf("err %v, want the batch held as a lost state", err)
	}
	if p.eng.OpenGroups() != 0 || p.ver != 0 {
		t.Fatalf("the held batch was applied: %d open groups, version %d", p.eng.OpenGroups(), p.ver)
	}
}

// No false alarm: a group without commits, a restored state, and a
// partition assigned again after this process committed it itself.
func TestAStateThatStartedEmptyGoesOnWhenNothingWasLost(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	run(t, p, service.MessageBatch{resumed(0, 0, -1), resumed(1, 0, -1)})
	// A rebalance: both partitions resume from what this process committed.
	run(t, p, service.MessageBatch{resumed(0, 1, 1), resumed(1, 1, 1)})
	if p.ver != 2 {
		t.Fatalf("version %d after two batches", p.ver)
	}
	// The next process restores that state: a committed offset is expected.
	if err := p.makeDurable(context.Background(), p.ver); err != nil {
		t.Fatal(err)
	}
	q := build(t, ridesYAML, res, newClock())
	if q.fresh.Load() {
		t.Fatal("the second process did not restore the state")
	}
	run(t, q, service.MessageBatch{resumed(0, 2, 2), resumed(1, 2, 2)})
	// Once every partition was seen the guard is done.
	if !p.lostGuard.done.Load() {
		t.Fatal("the guard still checks every batch after both partitions were seen")
	}
}
