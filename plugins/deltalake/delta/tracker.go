package delta

import (
	"context"
	"sync"
	"time"
)

// Tracker decides, for one txn appId, which versions (window emission
// sequences or Kafka offsets) are already in the table, in a way that stays
// correct when batches reach the writer out of order.
//
// It keeps the set of versions known to be in: the table's (TxnView: the
// txn version minus the holes a writer of sequences records when it commits
// past some) and the ones this process committed. A later batch committed
// first therefore never makes an earlier one look written, in this process
// or, through the holes, after a restart.
//
// For contiguous sequences (window_emit_seq) WaitTurn also holds a batch
// whose first sequence is beyond the next expected one until the gap fills
// or a timeout passes, so that holes stay rare and short.
type Tracker struct {
	mu    sync.Mutex
	first int64     // first version ever used (1 for sequences, 0 for offsets)
	done  intervals // versions known to be in the table
	// givenUp: versions up to it are no longer waited for (GiveUp), though
	// still written if they come.
	givenUp int64
	changed chan struct{}
}

// NewTracker starts from the table's view of the appId; first is the
// lowest version the source ever uses (window sequences start at 1, Kafka
// offsets at 0).
func NewTracker(table TxnView, first int64) *Tracker {
	return &Tracker{first: first, done: table.committed(first), givenUp: first - 1, changed: make(chan struct{})}
}

// Observe takes the table's view again: what another writer (or we)
// committed since counts as present.
func (t *Tracker) Observe(table TxnView) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nextLocked()
	t.done = t.done.union(table.committed(t.first))
	t.pruneLocked()
	if t.nextLocked() != n {
		t.notifyLocked()
	}
}

// Committed reports whether version v is already in the table.
func (t *Tracker) Committed(v int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return v < t.first || t.done.contains(v)
}

// MarkDone records a committed interval [lo, hi] (every version in it).
func (t *Tracker) MarkDone(lo, hi int64) {
	t.markDone(intervals{{lo, hi}})
}

// MarkDoneVersions records exactly these committed versions (a batch may
// hold sequences 5 and 7 while 6 is still on its way).
func (t *Tracker) MarkDoneVersions(vs []int64) {
	t.markDone(pointsOf(append([]int64(nil), vs...)))
}

func (t *Tracker) markDone(ivs intervals) {
	if len(ivs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = t.done.union(ivs)
	t.pruneLocked()
	t.notifyLocked()
}

// maxIntervals bounds memory: Kafka offsets have holes (compaction,
// transaction markers) that never fill, so the oldest are taken as
// committed once there are this many intervals.
const maxIntervals = 1024

func (t *Tracker) pruneLocked() {
	for len(t.done) > maxIntervals {
		t.done[1][0] = t.done[0][0]
		t.done = t.done[1:]
	}
}

func (t *Tracker) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// NextExpected is the first version not yet known to be committed
// contiguously, the versions given up on counting as committed.
func (t *Tracker) NextExpected() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nextLocked()
}

func (t *Tracker) nextLocked() int64 {
	n := t.givenUp
	for _, iv := range t.done {
		if iv[0] > n+1 {
			break
		}
		n = max(n, iv[1])
	}
	return n + 1
}

// GiveUp stops waiting for the versions up to v: a gap committed past
// after the timeout. Without it NextExpected would stay at the gap, and
// every later batch would wait the whole timeout again (a table deleted or
// replaced under a kept window state: one emission per timeout, forever).
// Committed is unchanged, so a version that still comes is written.
func (t *Tracker) GiveUp(v int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v > t.givenUp {
		t.givenUp = v
		t.notifyLocked()
	}
}

// WaitTurn blocks until first <= NextExpected() or timeout fires; it
// returns false if it gave up because of the timeout (a gap), and the
// context error if ctx ended.
func (t *Tracker) WaitTurn(ctx context.Context, first int64, timeout <-chan time.Time) (bool, error) {
	for {
		t.mu.Lock()
		next, ch := t.nextLocked(), t.changed
		t.mu.Unlock()
		if first <= next {
			return true, nil
		}
		select {
		case <-ch:
		case <-timeout:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}
