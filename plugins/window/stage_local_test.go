package window

import (
	"context"
	"errors"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// localMsg is a ride of source partition part (of 2) at offset off, read in
// assignment epoch epoch, assigned at group generation gen after the group
// had committed offset start (-1: none).
func localMsg(ts string, part, off, epoch, gen, start int) *service.Message {
	m := stageMsg(ts, part, off, epoch)
	m.MetaSetMut(generationMeta, gen)
	m.MetaSetMut(startMeta, start)
	if start >= 0 {
		m.MetaSetMut(commitMeta, commitProgress)
	}
	return m
}

func newLocal(t *testing.T, res *service.Resources) *localProcessor {
	t.Helper()
	p, err := newLocalProcessor(stageConfig(t, "local", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func bundleBodies(t *testing.T, out service.MessageBatch) []string {
	t.Helper()
	var got []string
	for _, m := range out {
		if k, _ := m.MetaGet(kindMeta); k != kindBundle {
			t.Fatalf("not a bundle: %v", m)
		}
		b, _ := m.AsBytes()
		got = append(got, string(b))
	}
	return got
}

// A partition's state moves with it: written at the commit barrier's flush
// under its own key, it is loaded by the process the partition goes to,
// which then sends what the first would have sent.
func TestStageLocalStateMovesWithItsPartition(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a, b := newLocal(t, res), newLocal(t, res)
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1), localMsg("2026-03-14T10:03:00Z", 0, 1, 1, 5, -1))
	a.noteCommitting("rides", 0, 2) // the input commits both records after this flush
	if err := a.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if data, err := a.getKey(context.Background(), "rides_agg-rides-0"); err != nil || data == nil {
		t.Fatalf("partition 0's state not written: %v", err)
	}
	next := func(epoch, gen int) *service.Message { return localMsg("2026-03-14T10:30:00Z", 0, 2, epoch, gen, 2) }
	want := bundleBodies(t, processStage(t, a, next(1, 5)))
	got := bundleBodies(t, processStage(t, b, next(2, 6)))
	// The new owner first sends again the bundles the state holds (their
	// delivery is unknown), then the same as the old owner.
	if len(want) != 2 || len(got) <= len(want) {
		t.Fatalf("bundles: %d from the first owner, %d from the second, want 2 and more", len(want), len(got))
	}
	got = got[len(got)-len(want):]
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("the new owner sent\n%s\nthe old one\n%s", got[i], want[i])
		}
	}
}

// A stored state that covers commits up to offset 1 is held, not loaded,
// for a group that committed up to 7 (an owner that lost the partition
// overwrote a newer state): the records between would be lost. A commit of
// records that reached no row (dead letters, filtered) is covered.
func TestStageLocalHoldsAStateBehindTheCommit(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a, b := newLocal(t, res), newLocal(t, res)
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1))
	a.noteCommitting("rides", 0, 1)
	if err := a.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	holds := 0
	b.holdPause = func(context.Context) error { holds++; cancel(); return context.Canceled }
	_, err := b.ProcessBatch(ctx, service.MessageBatch{localMsg("2026-03-14T10:05:00Z", 0, 7, 2, 6, 7)})
	if !errors.Is(err, context.Canceled) || holds != 1 {
		t.Fatalf("a state at offset 0 loaded for a commit at 7: err %v, holds %d", err, holds)
	}
	if len(b.eng.Partitions()) != 0 {
		t.Fatal("the held batch was applied")
	}
	// Records 1..6 were dead letters: the consumer commits 7 after a flush.
	a.noteCommitting("rides", 0, 7)
	if err := a.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.holdPause = func(context.Context) error { t.Fatal("held a state that covers the commit"); return nil }
	processStage(t, b, localMsg("2026-03-14T10:05:00Z", 0, 7, 3, 6, 7))
	if got := b.eng.Partitions(); len(got) != 1 || got[0].Offset != 7 {
		t.Fatalf("partition state after the load: %+v", got)
	}
}

// A process whose partition was taken over by an owner assigned at a later
// generation does not overwrite that owner's state.
func TestStageLocalDoesNotOverwriteALaterOwnersState(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	old, cur := newLocal(t, res), newLocal(t, res)
	processStage(t, old, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1))
	processStage(t, cur, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 6, -1), localMsg("2026-03-14T10:02:00Z", 0, 1, 1, 6, -1))
	if err := cur.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	processStage(t, old, localMsg("2026-03-14T10:02:00Z", 0, 1, 1, 5, -1), localMsg("2026-03-14T10:03:00Z", 0, 2, 1, 5, -1))
	if err := old.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := cur.getKey(context.Background(), "rides_agg-rides-0")
	if err != nil {
		t.Fatal(err)
	}
	stamp, off, err := engine.LocalStateInfo(data)
	if err != nil || stamp.Fence != 6 || off != 1 {
		t.Fatalf("stored state: fence %d offset %d (%v), want the generation-6 owner's at offset 1", stamp.Fence, off, err)
	}
	if len(old.eng.Partitions()) != 0 {
		t.Fatal("the old owner kept the partition it lost")
	}
}

// A partition loaded after the group committed up to 7 whose next state is
// written before the input commits anything new for it (its records not yet
// acked at that barrier) still covers offset 7: the group's commit stays 7.
// Stamped 0, that state made the next owner hold the partition for good
// (faults tier with the local job, a SIGKILL right after such a write).
func TestStageLocalStateWrittenBeforeANewCommitCoversTheLoadedOne(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a, b, c := newLocal(t, res), newLocal(t, res), newLocal(t, res)
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 6, 1, 5, -1))
	a.noteCommitting("rides", 0, 7)
	if err := a.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	// b takes the partition over at the group's commit 7, processes 7 and 8,
	// and writes its state at a barrier that commits nothing new for it.
	processStage(t, b, localMsg("2026-03-14T10:02:00Z", 0, 7, 2, 6, 7), localMsg("2026-03-14T10:03:00Z", 0, 8, 2, 6, 7))
	if err := b.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := b.getKey(context.Background(), "rides_agg-rides-0")
	if err != nil {
		t.Fatal(err)
	}
	if stamp, off, err := engine.LocalStateInfo(data); err != nil || off != 8 || stamp.Commit < 7 {
		t.Fatalf("stored state: offset %d, commit stamp %d (%v); want offset 8 covering the commit at 7", off, stamp.Commit, err)
	}
	// b is SIGKILLed; c gets the partition at the group's commit, still 7.
	c.holdPause = func(context.Context) error { t.Fatal("held a state that covers the group's commit"); return nil }
	processStage(t, c, localMsg("2026-03-14T10:02:00Z", 0, 7, 3, 7, 7))
	if got := c.eng.Partitions(); len(got) != 1 || got[0].Offset != 8 {
		t.Fatalf("partition state after the load: %+v, want b's (offset 8; 7 is a replay)", got)
	}
}
