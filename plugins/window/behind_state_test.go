package window

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/ownership"
)

// A restored state that covers a partition only up to an offset below the
// group's commit is held, naming both offsets. It is what a late write of a
// process that had lost the topic leaves, landed after its successor's:
// before, the next owner went on from the group's commit and closed the
// windows without the records in between, silently.
func TestARestoredStateBehindTheGroupsCommitIsHeld(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	old := build(t, ridesYAML, res, newClock())
	runUnheld(t, old, service.MessageBatch{chained(0, 0, -1, "none"), chained(1, 0, -1, "none")})
	if err := old.makeDurable(context.Background(), old.ver); err != nil {
		t.Fatal(err)
	}
	stale := mustGet(t, res, "rides_agg") // covers both partitions up to offset 1
	runUnheld(t, old, service.MessageBatch{chained(0, 1, 1, "progress"), chained(1, 1, 1, "progress")})
	if err := old.makeDurable(context.Background(), old.ver); err != nil {
		t.Fatal(err)
	}
	current := mustGet(t, res, "rides_agg") // up to offset 2; the group then commits 2

	setCache(t, res, "rides_agg", stale) // the late write lands
	q := build(t, ridesYAML, res, newClock())
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the shutdown that ends the hold
	_, err := q.ProcessBatch(ctx, service.MessageBatch{chained(0, 2, 2, "progress"), chained(1, 2, 2, "progress")})
	if err == nil || !strings.Contains(err.Error(), "covers partition rides/0 up to offset 1, but the consumer group committed up to offset 2") ||
		!strings.Contains(err.Error(), "--to-offset 1") {
		t.Fatalf("err %v, want the batch held as a state behind the commit", err)
	}
	if q.ver != 0 {
		t.Fatalf("the held batch was applied (version %d)", q.ver)
	}
	if err := q.flush(context.Background()); !errors.Is(err, errStateLost) {
		t.Fatalf("flush while held: %v, want %v", err, errStateLost)
	}

	// The state the group's commit follows goes on.
	setCache(t, res, "rides_agg", current)
	runUnheld(t, build(t, ridesYAML, res, newClock()), service.MessageBatch{chained(0, 2, 2, "progress"), chained(1, 2, 2, "progress")})
	// So does the stale one with state.on_lost: resume (the operator's call).
	setCache(t, res, "rides_agg", stale)
	runUnheld(t, build(t, ridesYAML+"  on_lost: resume\n", res, newClock()), service.MessageBatch{chained(0, 2, 2, "progress"), chained(1, 2, 2, "progress")})
}

// A partition's dead letters move the offset its state covers too: the
// group commits past them, and the state written before that commit must
// not look behind it.
func TestDeadLettersMoveTheOffsetAStateCovers(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	runUnheld(t, p, service.MessageBatch{chained(0, 0, -1, "none"), chained(1, 0, -1, "none")})
	bad := chained(0, 1, -1, "none")
	bad.MetaSetMut(prevOffsetMeta, 0)
	bad.SetError(errors.New("bad_json"))
	runUnheld(t, p, service.MessageBatch{bad})
	if err := p.makeDurable(context.Background(), p.ver); err != nil {
		t.Fatal(err)
	}
	runUnheld(t, build(t, ridesYAML, res, newClock()), service.MessageBatch{chained(0, 2, 2, "progress"), chained(1, 1, 1, "progress")})
}

// chained is resumed with kafka_prev_offset: the record before it, or -1
// for the first one since the partition was assigned (start: a new process).
// A state covers what went through the window in offset order only.
func chained(part, off, start int, kind string) *service.Message {
	m := resumed(part, off, start, kind)
	prev := off - 1
	if off == start || start < 0 {
		prev = -1
	}
	m.MetaSetMut(prevOffsetMeta, prev)
	return m
}

func mustGet(t *testing.T, res *service.Resources, key string) []byte {
	t.Helper()
	var data []byte
	var getErr error
	if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) { data, getErr = c.Get(context.Background(), key) }); err != nil || getErr != nil {
		t.Fatalf("reading %q: %v %v", key, err, getErr)
	}
	return data
}

// The same after a reload: a process that takes the topic over again reads
// the checkpoint back (reloadIfTakenOver) and judges every partition again,
// although it had seen them all before. Here the late write is its own,
// from before a pause past its session.
func TestAStateReloadedBehindTheGroupsCommitIsHeld(t *testing.T) {
	rec := ownership.New()
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	p.guard, p.gains = &splitGuard{owners: rec}, rec.Gains()
	o := rec.Owner()
	own := func(yes bool) {
		o.Set("rides", 0, yes)
		o.Set("rides", 1, yes)
	}
	own(true)
	runUnheld(t, p, service.MessageBatch{chained(0, 0, -1, "none"), chained(1, 0, -1, "none")})
	if err := p.makeDurable(context.Background(), p.ver); err != nil {
		t.Fatal(err)
	}
	stale := mustGet(t, res, "rides_agg") // covers both partitions up to offset 1
	own(false)
	p.fenced() // p was paused past its session: its write above is the late one

	// Another process has the topic meanwhile, goes on to offset 2 and
	// writes its state; the group commits 2. Then the late write lands.
	other := build(t, ridesYAML, res, newClock())
	other.guard = nil
	runUnheld(t, other, service.MessageBatch{chained(0, 1, 1, "progress"), chained(1, 1, 1, "progress")})
	if err := other.makeDurable(context.Background(), other.ver); err != nil {
		t.Fatal(err)
	}
	setCache(t, res, "rides_agg", stale)

	own(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.ProcessBatch(ctx, service.MessageBatch{chained(0, 2, 2, "progress"), chained(1, 2, 2, "progress")})
	if err == nil || !strings.Contains(err.Error(), "covers partition rides/0 up to offset 1, but the consumer group committed up to offset 2") {
		t.Fatalf("err %v, want the reloaded state held", err)
	}
}
