package kafkafranz

import (
	"context"
	"slices"
	"sync"
)

// partitionTurns keeps at most one batch per partition handed out and not
// yet acked, in transactional mode. Without it, two batches of a partition
// processed by two pipeline threads (or written by an output with
// max_in_flight > 1) can produce their records in either order within one
// transaction: a downstream reader of the produced topic (the window's
// stage merge, the changelog's latest value) would see a later batch's
// progress before an earlier batch's data. With it, a batch's records are
// handed to the producer (which keeps their order per partition) before the
// next batch of its partitions is even read.
// Batches of different partitions still run in parallel.
type partitionTurns struct {
	mu    sync.Mutex
	busy  map[partitionKey]bool
	freed chan struct{} // closed and replaced when a partition is freed
}

func newPartitionTurns() *partitionTurns {
	return &partitionTurns{busy: map[partitionKey]bool{}, freed: make(chan struct{})}
}

// take waits until none of parts has a batch out, then marks them all out.
func (pt *partitionTurns) take(ctx context.Context, parts []partitionKey) error {
	for {
		pt.mu.Lock()
		free := true
		for _, k := range parts {
			if pt.busy[k] {
				free = false
				break
			}
		}
		if free {
			for _, k := range parts {
				pt.busy[k] = true
			}
			pt.mu.Unlock()
			return nil
		}
		ch := pt.freed
		pt.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// give frees parts once their batch is acked.
func (pt *partitionTurns) give(parts []partitionKey) {
	pt.mu.Lock()
	for _, k := range parts {
		delete(pt.busy, k)
	}
	close(pt.freed)
	pt.freed = make(chan struct{})
	pt.mu.Unlock()
}

// isBusy reports whether any of parts has a batch out.
func (pt *partitionTurns) isBusy(parts []partitionKey) bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, k := range parts {
		if pt.busy[k] {
			return true
		}
	}
	return false
}

// frontFree moves to the front of the reader's formed batches the first one
// whose partitions have no batch out and no earlier batch waiting: handing
// out the head while its partition is busy would leave the pipeline idle
// while batches of free partitions wait behind it. A batch only moves ahead
// of batches of other partitions, so each partition's order is kept.
func (t *txnReader) frontFree() {
	ready := t.reader.ready
	if len(ready) < 2 {
		return
	}
	var seen []partitionKey
	for i, rb := range ready {
		parts := make([]partitionKey, 0, 1)
		for _, ch := range rb.chunks {
			if k := (partitionKey{ch.Topic, ch.Partition}); !slices.Contains(parts, k) {
				parts = append(parts, k)
			}
		}
		if !slices.ContainsFunc(parts, func(k partitionKey) bool { return slices.Contains(seen, k) }) && !t.turns.isBusy(parts) {
			if i > 0 {
				copy(ready[1:i+1], ready[:i])
				ready[0] = rb
			}
			return
		}
		seen = append(seen, parts...)
	}
}
