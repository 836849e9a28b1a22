package window

import (
	"context"
	"errors"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
	"github.com/miaradia/rides-connect/internal/ownership"
)

// Once a consumer of the process reports it left its group (kafka_franz:
// its session was lost, or the coordinator no longer knows it), the state in
// memory may be older than what the partitions' new owner wrote: no write
// of it may happen, neither the barrier's flush (so no offset commit passes
// it), nor a batch's write before it emits (the batch is dropped, its
// records come again to their owner), nor Close's. When the process owns
// the topic again it reloads the checkpoint without writing first. Before
// this, a replica paused past its session timeout wrote its older state
// over the checkpoint when it resumed and when it stopped, and a later start
// lost rows (red team of session 18).
func TestAFencedProcessWritesNoStateUntilItReloads(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, syncCommitYAML, res, newClock())
	writes := countWrites(p, nil)
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)})
	if err := commitbarrier.Process.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(t, p, service.MessageBatch{msg("US", "2026-03-14T00:02:00Z", 1, 1, 0, 1)}) // not durable

	commitbarrier.Process.Fenced()
	if err := commitbarrier.Process.Flush(context.Background()); !errors.Is(err, errStale) {
		t.Fatalf("flush of a fenced process: %v, want errStale", err)
	}
	// 20 minutes later: this batch would close the 00:00 window.
	rows, errored := run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:21:00Z", 1, 1, 0, 2)})
	if len(rows) != 0 || len(errored) != 0 {
		t.Fatalf("a batch on a stale state passed on %d rows and %d errored messages, want none", len(rows), len(errored))
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("%d writes, want only the one before the fence", n)
	}
	if got := build(t, ridesYAML, res, newClock()).eng.OpenGroups(); got != 1 {
		t.Fatalf("the checkpoint has %d open groups, want the 1 written before the fence", got)
	}

	// The process owns the topic again: it reloads the checkpoint, writing nothing.
	o := ownership.Process.Owner()
	defer o.Release()
	o.Set("rides", 0, true)
	if err := p.reloadIfTakenOver(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.stale.Load() {
		t.Fatal("still stale after the reload")
	}
	if got := p.eng.OpenGroups(); got != 1 {
		t.Fatalf("reloaded %d open groups, want the checkpoint's 1", got)
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("%d writes after the reload, want 1 (nothing written before it)", n)
	}
	run(t, p, service.MessageBatch{msg("DE", "2026-03-14T00:03:00Z", 1, 1, 0, 1)})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 2 {
		t.Fatalf("%d writes after Close, want 2 (writes resume once reloaded)", n)
	}
}

// A batch that writes no state (no emission, state.sync: commit) but passes a
// dead letter on is dropped once the process is fenced, as an emitting one:
// its records come again to their owner, which sends the dead letter once.
// Before the fence it passes it on.
func TestAFencedProcessPassesNoDeadLetterOn(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, syncCommitYAML, res, newClock())
	bad := func(off int) *service.Message {
		m := msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, off)
		m.SetError(errors.New("upstream: malformed"))
		return m
	}
	if _, errored := run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0), bad(1)}); len(errored) != 1 {
		t.Fatalf("before the fence: %d dead letters passed on, want 1", len(errored))
	}
	commitbarrier.Process.Fenced()
	rows, errored := run(t, p, service.MessageBatch{msg("US", "2026-03-14T00:02:00Z", 1, 1, 0, 2), bad(3)})
	if len(rows) != 0 || len(errored) != 0 {
		t.Fatalf("a fenced process passed on %d rows and %d dead letters, want none", len(rows), len(errored))
	}
	// Owning the topic again, it reloads and leaves the process barrier
	// clean for the other tests.
	o := ownership.Process.Owner()
	defer o.Release()
	o.Set("rides", 0, true)
	if err := p.reloadIfTakenOver(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
