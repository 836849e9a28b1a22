package window

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// A partition's changelog state (stage partial's markers, stage merge's
// state with state.changelog) is read again while it is behind the offset
// it must reach (stateMustReach), up to changelogTries times changelogPause
// apart: right after the previous owner's last commit its markers may not
// have reached the changelog yet (docs/scale-out.md). From an input that
// does not say which committed offset it resumed from, a source with offset
// gaps (transaction markers, compaction) waits the whole bound once per
// assignment, then goes on with the state it has. A state behind while the
// cache says a newer one may be committed behind an open transaction
// (pendingState) is read until that transaction ends, however long: going
// on from it would judge and merge rows against an older state.
const (
	changelogTries = 20
	changelogPause = 100 * time.Millisecond
	// pendingWarnEvery is how many reads behind a pending state pass
	// between two warnings (5 s).
	pendingWarnEvery = 50
)

// pendingState is the error of a state cache whose newest value of a key
// may be committed behind a transaction still open on its changelog
// partition (the kafka_changelog cache's); PendingValue is the value
// visible meanwhile and whether there is one.
type pendingState interface {
	error
	PendingValue() ([]byte, bool)
}

// stateMustReach is the offset of partition k whose record the state read
// back must have applied: the one before the committed offset the input
// resumed from (kafka_assignment_offset), which the previous owner's
// state, committed in the same transaction, applied; -1 (nothing to reach)
// when there was no commit. Positions are compared, not records: the
// offsets between the commit and the first record delivered are commit
// markers, aborted or compacted records, which no state applies. From an
// input without kafka_assignment_offset it is the record before the first
// delivered one (-1 at offset 0), which after such a gap is never reached.
func stateMustReach(batch service.MessageBatch, k string) int64 {
	for _, msg := range batch {
		if pos, ok := position(msg); ok && pos.Key() == k {
			if start, ok := metaInt(msg, startMeta); ok {
				return max(start-1, -1)
			}
			break
		}
	}
	return max(firstOffset(batch, k)-1, -1)
}

// readSerial wraps read so that its calls run one at a time, while the
// loads of a batch's partitions overlap their waits: Benthos (v4.60)
// creates a cache resource on its first access under a read lock, so two
// first accesses at once race (found by -race) and could build the cache
// twice. The kafka_changelog cache reads one call at a time anyway.
func readSerial(mu *sync.Mutex, read func(context.Context, string) ([]byte, error)) func(context.Context, string) ([]byte, error) {
	return func(ctx context.Context, key string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		return read(ctx, key)
	}
}

func pauseChangelog(ctx context.Context) error {
	t := time.NewTimer(changelogPause)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readCaughtUp calls read until it reports a state that is not behind. A
// state behind with nothing pending is read changelogTries times at most
// (the last read then stands); one behind a pending newer state is read
// until it is no longer pending, with a warning naming what (the partition)
// every pendingWarnEvery reads. wait runs between reads. It returns the
// number of reads and whether the last one was still behind.
func readCaughtUp(ctx context.Context, log *service.Logger, what string, wait func(context.Context) error, read func() (behind bool, pending error, err error)) (tries int, behind bool, err error) {
	for tries = 1; ; tries++ {
		var pending error
		if behind, pending, err = read(); err != nil || !behind || pending == nil && tries >= changelogTries {
			return tries, behind, err
		}
		if pending != nil && tries%pendingWarnEvery == 1 {
			log.Warnf("tumbling_window: %s: its changelog state is behind the offset it resumes from, and a newer one may be committed behind an open transaction (a replica that died with it open: the broker aborts it within its transaction timeout); waiting: %v", what, pending)
		}
		if err = wait(ctx); err != nil {
			return tries, behind, err
		}
	}
}

// readStateRetrying reads key with read until a read succeeds or wait ends
// (ctx done), logging every 50th failure. A failed read must not fail the
// batch: Benthos would mark its rows as errors, the configs route errors to
// the dead letters, and the transaction would commit their offsets, so rows
// that are not bad would leave the table. The cache fails while its topic is
// not there yet (the output that creates it connects after the input
// delivers) or the broker is away; neither stage can go on without the
// state anyway. A read answered with a pendingState returns the value
// visible meanwhile and that error as pending: the caller takes the value
// if it is current, and reads again otherwise (readCaughtUp).
func readStateRetrying(ctx context.Context, log *service.Logger, stage string, read func(context.Context, string) ([]byte, error), wait func(context.Context) error, key string) (data []byte, pending, err error) {
	for fails := 0; ; fails++ {
		data, err := read(ctx, key)
		if err == nil {
			return data, nil, nil
		}
		var ps pendingState
		if errors.As(err, &ps) {
			v, _ := ps.PendingValue()
			return v, err, nil
		}
		if fails%50 == 0 {
			log.Warnf("tumbling_window: stage %s cannot read its state %q (retrying every %v): %v", stage, key, changelogPause, err)
		}
		if werr := wait(ctx); werr != nil {
			return nil, nil, errors.Join(err, werr)
		}
	}
}
