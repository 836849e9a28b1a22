package window

import (
	"context"
	"errors"
	"fmt"
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
// under the key of the commit it covers, it is loaded by the process the partition goes to,
// which then sends what the first would have sent.
func TestStageLocalStateMovesWithItsPartition(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a, b := newLocal(t, res), newLocal(t, res)
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1), localMsg("2026-03-14T10:03:00Z", 0, 1, 1, 5, -1))
	a.noteCommitting("rides", 0, 2, -1) // the input commits both records after this flush
	if err := a.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if data, err := a.getKey(context.Background(), "rides_agg-rides-0@2"); err != nil || data == nil {
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
	a.noteCommitting("rides", 0, 1, -1)
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
	a.noteCommitting("rides", 0, 7, -1)
	if err := a.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.holdPause = func(context.Context) error { t.Fatal("held a state that covers the commit"); return nil }
	processStage(t, b, localMsg("2026-03-14T10:05:00Z", 0, 7, 3, 6, 7))
	if got := b.eng.Partitions(); len(got) != 1 || got[0].Offset != 7 {
		t.Fatalf("partition state after the load: %+v", got)
	}
}

// A write from a process that lost the partition, landing after the new
// owner's (paused past its session timeout, or SIGKILLed with the write in
// flight), does not change the state the next owner loads: it names the
// commit it covers, which the group never made. In one key per partition it
// replaced the newer state and the next owner held the partition for good.
func TestStageLocalLateWriteOfAFormerOwnerIsNotLoaded(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	old, cur, next := newLocal(t, res), newLocal(t, res), newLocal(t, res)
	processStage(t, old, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1))
	old.noteCommitting("rides", 0, 1, -1)
	if err := old.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	// cur takes the partition over at the group's commit 1 and commits 3. At
	// the same generation: a static member restarted under the same
	// instance id keeps it, so no fencing token tells the two apart.
	processStage(t, cur, localMsg("2026-03-14T10:02:00Z", 0, 1, 1, 5, 1), localMsg("2026-03-14T10:03:00Z", 0, 2, 1, 5, 1))
	cur.noteCommitting("rides", 0, 3, -1)
	if err := cur.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	// old's write of its own record 1, made before it knew, lands now.
	processStage(t, old, localMsg("2026-03-14T10:02:00Z", 0, 1, 1, 5, -1))
	old.noteCommitting("rides", 0, 2, -1)
	if err := old.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	next.holdPause = func(context.Context) error {
		t.Fatal("held the partition after a former owner's late write")
		return nil
	}
	processStage(t, next, localMsg("2026-03-14T10:04:00Z", 0, 3, 2, 5, 3))
	if got := next.eng.Partitions(); len(got) != 1 || got[0].Offset != 3 {
		t.Fatalf("partition state after the load: %+v, want cur's (offset 2) and record 3", got)
	}
}

// The states below a commit the broker accepted are deleted at the next
// flush; the one of the accepted commit stays (a crash before the next
// commit resumes from it), and so does the previous owner's until a commit
// past it is accepted.
func TestStageLocalDeletesStatesBelowTheAcceptedCommit(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newLocal(t, res)
	ctx := context.Background()
	if err := a.setKey(ctx, "rides_agg-rides-0@4", mustLocalState(t, res, 4)); err != nil {
		t.Fatal(err)
	}
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 4, 1, 5, 4))
	for _, next := range []int64{5, 6} {
		processStage(t, a, localMsg("2026-03-14T10:02:00Z", 0, int(next), 1, 5, 4))
		a.noteCommitting("rides", 0, next+1, 4)
		if err := a.flushLocal(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() (keys []string) {
		for _, c := range []string{"4", "6", "7"} {
			if data, err := a.getKey(ctx, "rides_agg-rides-0@"+c); err != nil {
				t.Fatal(err)
			} else if data != nil {
				keys = append(keys, c)
			}
		}
		return keys
	}
	if got := fmt.Sprint(stored()); got != "[4 6 7]" {
		t.Fatalf("states before any accepted commit: %s", got)
	}
	a.noteCommitted("rides", 0, 6)
	if err := a.flushLocal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(stored()); got != "[6 7]" {
		t.Fatalf("states after the commit at 6 was accepted: %s, want 6 and 7", got)
	}
	a.noteCommitted("rides", 0, 7)
	if err := a.flushLocal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(stored()); got != "[7]" {
		t.Fatalf("states after the commit at 7 was accepted: %s, want 7", got)
	}
}

// A checkpoint of an earlier version (one key per partition, no commit in
// its name) is loaded when it covers the group's commit.
func TestStageLocalLoadsTheLegacyKey(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newLocal(t, res)
	if err := a.setKey(context.Background(), "rides_agg-rides-0", mustLocalState(t, res, 4)); err != nil {
		t.Fatal(err)
	}
	a.holdPause = func(context.Context) error { t.Fatal("held a legacy state that covers the commit"); return nil }
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 4, 1, 5, 4))
	if got := a.eng.Partitions(); len(got) != 1 || got[0].Offset != 4 {
		t.Fatalf("partition state after the load: %+v", got)
	}
}

// mustLocalState is the state of partition 0 after record 3, stamped as
// covering the commit at offset commit.
func mustLocalState(t *testing.T, res *service.Resources, commit int64) []byte {
	t.Helper()
	w := newLocal(t, res)
	processStage(t, w, localMsg("2026-03-14T10:00:30Z", 0, 3, 1, 4, -1))
	data, ok, err := w.eng.SnapshotPartition("rides", 0, engine.LocalStamp{Fence: 4, Commit: commit})
	if err != nil || !ok {
		t.Fatalf("snapshot: %v %v", ok, err)
	}
	return data
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
	a.noteCommitting("rides", 0, 7, -1)
	if err := a.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	// b takes the partition over at the group's commit 7, processes 7 and 8,
	// and writes its state at a barrier that commits nothing new for it.
	processStage(t, b, localMsg("2026-03-14T10:02:00Z", 0, 7, 2, 6, 7), localMsg("2026-03-14T10:03:00Z", 0, 8, 2, 6, 7))
	if err := b.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := b.getKey(context.Background(), "rides_agg-rides-0@7")
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

// A partition whose first batch in an epoch is only dead letters is loaded
// all the same: the input commits past them, and the state written at that
// commit's flush must cover it. Before, the partition was not loaded, no
// state named the new commit, and the next owner held the partition as lost.
func TestStageLocalDeadLettersOnlyBatchIsCovered(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a, b, c := newLocal(t, res), newLocal(t, res), newLocal(t, res)
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1))
	a.noteCommitting("rides", 0, 1, -1)
	if err := a.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	// b gets partition 0 at commit 1; its first batch is one bad record.
	bad := localMsg("2026-03-14T10:02:00Z", 0, 1, 2, 6, 1)
	bad.SetError(errors.New("parse_ride: bad JSON"))
	dead := 0
	for _, m := range processStage(t, b, bad) { // and the bundles a's state holds, sent again
		if m.GetError() != nil {
			dead++
		}
	}
	if dead != 1 {
		t.Fatalf("a dead-letter-only batch passed on %d dead letters, want 1", dead)
	}
	b.noteCommitting("rides", 0, 2, -1)
	if err := b.flushLocal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if data, err := b.getKey(context.Background(), "rides_agg-rides-0@2"); err != nil || data == nil {
		t.Fatalf("no state covers the commit past the dead letter: %v", err)
	}
	c.holdPause = func(context.Context) error { t.Fatal("held a partition whose state covers the commit"); return nil }
	processStage(t, c, localMsg("2026-03-14T10:05:00Z", 0, 2, 3, 7, 2))
	if got := c.eng.Partitions(); len(got) != 1 || got[0].Offset != 2 {
		t.Fatalf("partition state after the load: %+v", got)
	}
}

// A partition committed before any message of it reached the window (a
// filter before it dropped them all) has its state carried over to the
// commit: the state its assignment resumed from, or an empty one when the
// group had no commit of progress. Without it the next start held it.
func TestStageLocalCarriesAPartitionCommittedBeforeItWasLoaded(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	ctx := context.Background()
	a, b := newLocal(t, res), newLocal(t, res)
	processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1))
	a.noteCommitting("rides", 0, 1, -1)
	if err := a.flushLocal(ctx); err != nil {
		t.Fatal(err)
	}
	// b resumed rides/0 from a's commit 1 and rides/1 from no commit; a
	// filter dropped records 1..2 of rides/0 and 0..4 of rides/1.
	b.noteCommitting("rides", 0, 3, 1)
	b.noteCommitting("rides", 1, 5, -1)
	if err := b.flushLocal(ctx); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"rides_agg-rides-0@3", "rides_agg-rides-1@5"} {
		if data, err := b.getKey(ctx, key); err != nil || data == nil {
			t.Fatalf("no state %s carried over: %v", key, err)
		}
	}
	c := newLocal(t, res)
	c.holdPause = func(context.Context) error { t.Fatal("held a carried partition"); return nil }
	processStage(t, c, localMsg("2026-03-14T10:05:00Z", 0, 3, 2, 6, 3), localMsg("2026-03-14T10:05:00Z", 1, 5, 2, 6, 5))
	parts := c.eng.Partitions()
	if len(parts) != 2 || parts[0].Offset != 3 || parts[1].Offset != 5 {
		t.Fatalf("partition states after the loads: %+v", parts)
	}
	// A ride of rides/0 reaching b later in the same epoch loads the state
	// again (the same one) and keeps the carried commit: the next state
	// written names no commit below it.
	b.holdPause = c.holdPause
	processStage(t, b, localMsg("2026-03-14T10:06:00Z", 0, 3, 1, 5, 1))
	if got := b.committing[engine.Position{Topic: "rides", Partition: 0}.Key()].Offset; got != 3 {
		t.Fatalf("after the load b stamps rides/0's next state with commit %d, want the carried 3", got)
	}
}
