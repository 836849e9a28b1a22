package franz

import "sync"

// Tracker follows the batches of one topic-partition that are in flight
// downstream and tells which offset may be committed: the last offset of the
// longest prefix of batches that are all acknowledged. A batch acked out of
// order is remembered but does not move the commit point past an earlier
// batch that is still pending, so a crash never skips an unacknowledged record.
//
// T is what identifies a batch's last record (a *kgo.Record in the consumer,
// so its leader epoch goes into the commit).
type Tracker[T any] struct {
	mu      sync.Mutex
	batches []*trackedBatch[T] // in offset order; the front is the oldest
	pending int                // records in batches not yet acked
	done    bool               // partition revoked: late acks are ignored
}

type trackedBatch[T any] struct {
	last  T // the batch's last record
	count int
	acked bool
}

// Token identifies one tracked batch; pass it back to Ack.
type Token[T any] struct{ b *trackedBatch[T] }

// Track registers a batch of count records ending with last. Batches of one
// partition must be tracked in offset order.
func (t *Tracker[T]) Track(last T, count int) Token[T] {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &trackedBatch[T]{last: last, count: count}
	t.batches = append(t.batches, b)
	t.pending += count
	return Token[T]{b}
}

// Ack marks the batch as delivered. It returns the last record that is now
// safe to commit (it and all records before it acked) and ok=true when
// the commit point moved; ok=false when it did not (an earlier batch is still
// pending, the batch was already acked, or the tracker was closed).
func (t *Tracker[T]) Ack(tok Token[T]) (commit T, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ackLocked(tok)
}

// AckThen is Ack that, when the commit point moved, calls mark with the
// record to commit while still holding the tracker's lock. Close takes the
// same lock, so once Close returns no mark can follow: an ack racing a
// revoke either marks before the revoke's commit or not at all.
func (t *Tracker[T]) AckThen(tok Token[T], mark func(T)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if commit, ok := t.ackLocked(tok); ok {
		mark(commit)
	}
}

func (t *Tracker[T]) ackLocked(tok Token[T]) (commit T, ok bool) {
	if t.done || tok.b == nil || tok.b.acked {
		return commit, false
	}
	tok.b.acked = true
	t.pending -= tok.b.count
	n := 0
	for n < len(t.batches) && t.batches[n].acked {
		commit, ok = t.batches[n].last, true
		n++
	}
	if n > 0 {
		// Drop the acknowledged prefix; clear the slots so the GC can free them.
		clear(t.batches[:n])
		t.batches = t.batches[n:]
	}
	return commit, ok
}

// Pending is the number of records tracked and not yet acked.
func (t *Tracker[T]) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending
}

// Close forgets everything; later acks are ignored. Used when the partition
// is revoked: its records will be re-fetched by whoever owns it next.
func (t *Tracker[T]) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	t.batches = nil
	t.pending = 0
}

// Closed reports whether Close was called.
func (t *Tracker[T]) Closed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}
