package delta

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Tracker decides, for one txn appId, which versions (window emission
// sequences or Kafka offsets) are already in the table, in a way that stays
// correct when batches reach the writer out of order.
//
// The table's txn version only says "the highest version committed". A
// version at or below the baseline (the txn version seen at start, or set
// by another writer) is a duplicate. Above the baseline, only the versions
// this process committed (kept as intervals) are duplicates, so a later
// batch committed first never causes an earlier one to be skipped in this
// process.
//
// For contiguous sequences (window_emit_seq) WaitTurn also holds a batch
// whose first sequence is beyond the next expected one until the gap fills
// or a timeout passes, so that the txn version (and thus what a restart will
// skip) does not run ahead of missing sequences.
type Tracker struct {
	mu       sync.Mutex
	first    int64      // first version ever used (1 for sequences, 0 for offsets)
	baseline int64      // versions <= baseline are in the table
	done     [][2]int64 // sorted, merged intervals committed by us above baseline
	maxOurs  int64      // highest version we committed
	// givenUp: versions up to it are no longer waited for (GiveUp), though
	// still written if they come.
	givenUp int64
	changed chan struct{}
}

// NewTracker starts from the table's current txn version (-1 if none);
// first is the lowest version the source ever uses (window sequences start
// at 1, Kafka offsets at 0).
func NewTracker(tableVersion, first int64) *Tracker {
	return &Tracker{baseline: max(tableVersion, first-1), first: first, maxOurs: -1, changed: make(chan struct{})}
}

// Observe takes the table's txn version; if another writer moved it beyond
// anything we committed, everything up to it counts as present.
func (t *Tracker) Observe(tableVersion int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tableVersion > t.maxOurs && tableVersion > t.baseline {
		t.baseline = tableVersion
		t.pruneLocked()
		t.notifyLocked()
	}
}

// Committed reports whether version v is already in the table.
func (t *Tracker) Committed(v int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v <= t.baseline {
		return true
	}
	i := sort.Search(len(t.done), func(i int) bool { return t.done[i][1] >= v })
	return i < len(t.done) && t.done[i][0] <= v
}

// MarkDone records a committed interval [lo, hi] (every version in it).
func (t *Tracker) MarkDone(lo, hi int64) {
	t.MarkDoneIntervals([][2]int64{{lo, hi}})
}

// MarkDoneVersions records exactly these committed versions (a batch may
// hold sequences 5 and 7 while 6 is still on its way).
func (t *Tracker) MarkDoneVersions(vs []int64) {
	vs = append([]int64(nil), vs...)
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	var ivs [][2]int64
	for _, v := range vs {
		if n := len(ivs); n > 0 && v <= ivs[n-1][1]+1 {
			ivs[n-1][1] = max(ivs[n-1][1], v)
			continue
		}
		ivs = append(ivs, [2]int64{v, v})
	}
	t.MarkDoneIntervals(ivs)
}

// MarkDoneIntervals records committed intervals.
func (t *Tracker) MarkDoneIntervals(ivs [][2]int64) {
	if len(ivs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	hi := ivs[0][1]
	for _, iv := range ivs {
		hi = max(hi, iv[1])
	}
	t.done = append(t.done, ivs...)
	sort.Slice(t.done, func(i, j int) bool { return t.done[i][0] < t.done[j][0] })
	merged := t.done[:0]
	for _, iv := range t.done {
		if n := len(merged); n > 0 && iv[0] <= merged[n-1][1]+1 {
			if iv[1] > merged[n-1][1] {
				merged[n-1][1] = iv[1]
			}
			continue
		}
		merged = append(merged, iv)
	}
	t.done = merged
	if hi > t.maxOurs {
		t.maxOurs = hi
	}
	t.pruneLocked()
	t.notifyLocked()
}

// maxIntervals bounds memory: Kafka offsets have holes (compaction,
// transaction markers) that never fill, so the oldest intervals are folded
// into the baseline once there are this many.
const maxIntervals = 1024

// pruneLocked folds an interval that starts right after the baseline into
// it, and the oldest ones beyond maxIntervals.
func (t *Tracker) pruneLocked() {
	for len(t.done) > maxIntervals {
		t.baseline = max(t.baseline, t.done[0][1])
		t.done = t.done[1:]
	}
	for len(t.done) > 0 && t.done[0][0] <= t.baseline+1 {
		if t.done[0][1] > t.baseline {
			t.baseline = t.done[0][1]
		}
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
	n := max(t.baseline, t.givenUp)
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
