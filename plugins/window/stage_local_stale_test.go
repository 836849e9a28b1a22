package window

import (
	"errors"
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
	processStage(t, a, noticeMsg(noticeCaughtUp, 0, 2, 5, -1))
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

// A caught-up notice that a parser before the window failed (it has no
// body) is neither data nor a dead letter, for stage local as for stage
// full, and announces nothing.
func TestACaughtUpNoticeIsNeitherDataNorADeadLetter(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	local := newLocal(t, res)
	full := build(t, ridesYAML, res, newClock())
	for name, p := range map[string]service.BatchProcessor{"local": local, "full": full} {
		m := noticeMsg(noticeCaughtUp, 1, 1, 5, -1)
		m.SetError(errors.New("bad_json: no body"))
		if out := processStage(t, p, m); len(out) != 0 {
			t.Fatalf("stage %s passed a caught-up notice on: %d messages (errored: %v)", name, len(out), out[0].GetError())
		}
	}
	local.mu.Lock()
	_, loaded := local.epochs["rides/1"]
	local.mu.Unlock()
	if !loaded {
		t.Fatal("stage local did not load partition 1 on its caught-up notice")
	}
}
