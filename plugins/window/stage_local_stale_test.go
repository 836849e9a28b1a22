package window

import (
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// A batch read in an older assignment epoch than the one the partition was
// loaded at (a replica resumed after a pause, with batches read before it)
// is dropped: its records are ahead of the loaded state, and applied they
// made the partition's watermark jump over the records between and close
// windows without them. So is a batch of the epoch the partition was lost
// at, once forgotten, and a notice of it; a later epoch is loaded as
// before.
func TestStageLocalDropsBatchesOfAStaleEpoch(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newLocal(t, res)
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 0, 2, 5, -1), localMsg("2026-03-14T10:02:00Z", 0, 1, 2, 5, -1))
	// Read in epoch 1, before the partition was lost and assigned again: an
	// hour later in event time, it would close every window open.
	if out := processStage(t, a, localMsg("2026-03-14T11:00:00Z", 0, 900, 1, 4, -1)); len(out) != 0 {
		t.Fatalf("a batch of epoch 1 after epoch 2 sent %d messages, want none", len(out))
	}
	if got := a.eng.Partitions(); len(got) != 1 || got[0].Offset != 1 {
		t.Fatalf("partition state after the stale batch: %+v, want offset 1", got)
	}
	if a.eng.OpenGroups() == 0 {
		t.Fatal("the stale batch closed the open windows")
	}
	// Lost at epoch 2 (forgotten): its batches of epoch 2 are stale too.
	a.mu.Lock()
	a.forget("rides/0")
	a.mu.Unlock()
	if out := processStage(t, a, localMsg("2026-03-14T11:00:00Z", 0, 901, 2, 5, -1)); len(out) != 0 || len(a.eng.Partitions()) != 0 {
		t.Fatalf("a batch of the epoch the partition was lost at was applied (%d messages out)", len(out))
	}
	// Nor does a notice of that epoch load it (it would hold the
	// partition as this process's again, at an epoch it lost).
	processStage(t, a, noticeMsg(0, 2, 5, -1))
	a.mu.Lock()
	_, loaded := a.epochs["rides/0"]
	a.mu.Unlock()
	if loaded {
		t.Fatal("a notice of the epoch the partition was lost at loaded it")
	}
	// Assigned again at epoch 3: loaded and applied.
	processStage(t, a, localMsg("2026-03-14T10:03:00Z", 0, 2, 3, 6, -1))
	if got := a.eng.Partitions(); len(got) != 1 || got[0].Offset != 2 {
		t.Fatalf("partition state after epoch 3's batch: %+v, want offset 2", got)
	}
}
