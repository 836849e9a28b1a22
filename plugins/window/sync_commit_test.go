package window

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

var syncCommitYAML = strings.Replace(ridesYAML, "  cache: window_state\n", "  cache: window_state\n  sync: commit\n", 1)

// countWrites wraps p's store: it counts the writes and fails them while
// fail is set.
func countWrites(p *processor, fail *atomic.Bool) *atomic.Int32 {
	var n atomic.Int32
	real := p.store
	p.store = func(ctx context.Context, data []byte) error {
		if fail != nil && fail.Load() {
			return errors.New("store down")
		}
		n.Add(1)
		return real(ctx, data)
	}
	return &n
}

// With state.sync: commit a batch that only folds rows is released without a
// write; the commit barrier's flush writes the state covering every batch
// before it; a batch that emits, or that holds rows from outside kafka_franz,
// is written before it is released; Close writes and leaves the barrier.
func TestSyncCommitWritesBeforeEmissionsAndOffsetCommitsOnly(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, syncCommitYAML, res, newClock())
	writes := countWrites(p, nil)
	if !commitbarrier.Process.Active() {
		t.Fatal("state.sync: commit did not register with the commit barrier")
	}
	for i, city := range []string{"FR", "US", "DE"} {
		if rows, _ := run(t, p, service.MessageBatch{msg(city, "2026-03-14T00:01:00Z", 1, 1, 0, i)}); len(rows) != 0 {
			t.Fatalf("batch %d emitted %d rows", i, len(rows))
		}
	}
	if n := writes.Load(); n != 0 {
		t.Fatalf("%d writes for three batches that only folded rows, want 0", n)
	}
	if err := commitbarrier.Process.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("%d writes after the barrier's flush, want 1", n)
	}
	if got := build(t, ridesYAML, res, newClock()).eng.OpenGroups(); got != 3 {
		t.Fatalf("the flushed state has %d open groups, want 3", got)
	}
	// 20 minutes later on the same partition: the 00:00 window closes.
	rows, _ := run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:21:00Z", 1, 1, 0, 3)})
	if len(rows) != 3 {
		t.Fatalf("the closing batch emitted %d rows, want 3", len(rows))
	}
	if n := writes.Load(); n != 2 {
		t.Fatalf("%d writes after an emitting batch, want 2 (written before its release)", n)
	}
	noKafka := service.NewMessage([]byte(`{"city":"MG","price":1,"distanceKm":1,"ts":"2026-03-14T00:22:00Z"}`))
	run(t, p, service.MessageBatch{noKafka})
	if n := writes.Load(); n != 3 {
		t.Fatalf("%d writes after a batch from outside kafka_franz, want 3", n)
	}
	run(t, p, service.MessageBatch{msg("US", "2026-03-14T00:22:00Z", 1, 1, 0, 4)})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 4 {
		t.Fatalf("%d writes after Close, want 4 (Close writes what was folded since)", n)
	}
	if commitbarrier.Process.Active() {
		t.Fatal("Close left the processor in the commit barrier")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A failed flush rolls nothing back under state.sync: commit (the batches it
// was to cover are acked, their offsets wait uncommitted); the next flush
// writes them.
func TestSyncCommitFailedFlushKeepsTheState(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, syncCommitYAML, res, newClock())
	defer p.Close(context.Background())
	var fail atomic.Bool
	writes := countWrites(p, &fail)
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)})
	fail.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the store's retries give up at once
	if err := p.flush(ctx); err == nil {
		t.Fatal("a flush whose write failed returned nil")
	}
	if got := p.eng.OpenGroups(); got != 1 {
		t.Fatalf("after a failed flush the memory state has %d open groups, want 1 (nothing rolled back)", got)
	}
	fail.Store(false)
	if err := p.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("%d writes, want 1", n)
	}
	if got := build(t, ridesYAML, res, newClock()).eng.OpenGroups(); got != 1 {
		t.Fatalf("the durable state has %d open groups, want 1", got)
	}
}

// state.sync: commit is refused outside stage full or without a cache.
func TestSyncCommitNeedsStageFullAndACache(t *testing.T) {
	for name, yaml := range map[string]string{
		"no cache":      strings.Replace(syncCommitYAML, "  cache: window_state\n", "", 1),
		"stage partial": syncCommitYAML + "stage: partial\n",
	} {
		conf, err := spec().ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fromParsed(conf, service.MockResources(service.MockResourcesOptAddCache("window_state")))
		if err == nil || !strings.Contains(err.Error(), "state.sync") {
			t.Errorf("%s: %v, want an error naming state.sync", name, err)
		}
	}
}

// A Close whose write fails leaves the processor in the commit barrier, so
// the consumers' last commit cannot pass the state it failed to write; the
// barrier's next flush writes it.
func TestSyncCommitCloseThatCannotWriteStaysInTheBarrier(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, syncCommitYAML, res, newClock())
	var fail atomic.Bool
	writes := countWrites(p, &fail)
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)})
	fail.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Close(ctx); err == nil {
		t.Fatal("Close returned nil though its write failed")
	}
	if !commitbarrier.Process.Active() {
		t.Fatal("a Close that could not write left the commit barrier")
	}
	fail.Store(false)
	if err := commitbarrier.Process.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("%d writes, want 1 (the barrier's flush after the failed Close)", n)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if commitbarrier.Process.Active() {
		t.Fatal("a Close that wrote stayed in the commit barrier")
	}
}

// The offsets a consumer commits cover records a filter dropped before the
// window: the state flushed before that commit covers them too
// (coverCommitting), so the restart that finds the group's commit there is
// not held as behind it.
func TestSyncCommitCoversRecordsDroppedBeforeTheWindow(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, syncCommitYAML, res, newClock())
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 29)})
	commitbarrier.Process.Committing("rides", 0, 32, -1) // records 30 and 31 were dropped
	if err := commitbarrier.Process.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := build(t, syncCommitYAML, res, newClock())
	if c, ok := q.covered("rides/0"); !ok || c != 32 {
		t.Fatalf("the restored state covers rides/0 up to %d (%v), want 32", c, ok)
	}
	m := msg("FR", "2026-03-14T00:02:00Z", 1, 1, 0, 32)
	m.MetaSetMut(commitMeta, commitProgress)
	m.MetaSetMut(startMeta, 32)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := q.ProcessBatch(ctx, service.MessageBatch{m}); err != nil {
		t.Fatalf("the restart after a commit past dropped records: %v", err)
	}
	_ = q.Close(context.Background())
}
