package window

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Batches that finish their engine step while a checkpoint write is in flight
// are held until a later write covers them, and share that one write: four
// batches, two writes. None is released before its state is durable.
func TestBatchesWaitingForACheckpointShareTheNextWrite(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	real := p.store
	gate := make(chan struct{})
	var writes atomic.Int32
	p.store = func(ctx context.Context, data []byte) error {
		if writes.Add(1) == 1 {
			<-gate // the first write stalls until the other batches are waiting
		}
		return real(ctx, data)
	}
	cities := []string{"FR", "US", "DE", "MG"}
	released := make([]atomic.Bool, len(cities))
	var wg sync.WaitGroup
	process := func(i int) {
		defer wg.Done()
		b := service.MessageBatch{msg(cities[i], "2026-03-14T00:01:00Z", 1, 1, i, 0)}
		if _, err := p.ProcessBatch(context.Background(), b); err != nil {
			t.Error(err)
		}
		released[i].Store(true)
	}
	wg.Add(1)
	go process(0)
	waitFor(t, func() bool { return writes.Load() == 1 })
	for i := 1; i < len(cities); i++ {
		wg.Add(1)
		go process(i)
	}
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.ver == uint64(len(cities)) })
	for i := range cities {
		if released[i].Load() {
			t.Fatalf("batch %d released while the only write was still in flight", i)
		}
	}
	close(gate)
	wg.Wait()
	if n := writes.Load(); n != 2 {
		t.Fatalf("%d checkpoint writes for 4 batches, want 2 (one in flight + one shared)", n)
	}
	p2 := build(t, ridesYAML, res, newClock()) // a restart sees every batch's row
	if p2.eng.OpenGroups() != len(cities) {
		t.Fatalf("durable state has %d open groups, want %d", p2.eng.OpenGroups(), len(cities))
	}
}

// A write given up at shutdown fails every batch it was to cover, including
// those that only waited for it, and rolls the memory state back.
func TestGivenUpWriteFailsEveryBatchWaitingForIt(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)})
	real := p.store
	started := make(chan struct{})
	var once sync.Once
	p.store = func(ctx context.Context, _ []byte) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() {
		_, err := p.ProcessBatch(ctx, service.MessageBatch{msg("US", "2026-03-14T00:02:00Z", 1, 1, 1, 0)})
		errs <- err
	}()
	<-started
	go func() { // waits for the stalled write, with a context that never ends
		_, err := p.ProcessBatch(context.Background(), service.MessageBatch{msg("DE", "2026-03-14T00:02:00Z", 1, 1, 2, 0)})
		errs <- err
	}()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.ver == 3 })
	cancel()
	for range 2 {
		if err := <-errs; err == nil {
			t.Fatal("a batch was released although its state was never written")
		}
	}
	if n := p.eng.OpenGroups(); n != 1 {
		t.Fatalf("state not rolled back: %d open groups, want 1", n)
	}
	p.store = real
	run(t, p, service.MessageBatch{msg("US", "2026-03-14T00:02:00Z", 1, 1, 1, 0), msg("DE", "2026-03-14T00:02:00Z", 1, 1, 2, 0)})
	if n := p.eng.OpenGroups(); n != 3 {
		t.Fatalf("redelivered rows not applied after the rollback: %d open groups, want 3", n)
	}
}

// waitFor polls the processor's own state with a deadline (not a sleep for
// time to pass).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
