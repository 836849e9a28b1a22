package window

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/ratelog"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// bundleSender writes stage local's bundles to an output resource
// (bundles.output) in the background, instead of passing them on with the
// batch whose rows closed their windows. That batch is then released as
// soon as it is processed: its bundles are in its partitions' state
// (engine sent, until Delivered), which the commit barrier writes before
// its offsets commit, and a state read back sends them again. Passed on,
// they held the batch until their write was acknowledged, and the input
// kept its records (and the fetch buffers under them) meanwhile: a larger
// heap and more GC for the whole job (docs/benchmarks.md, session 28).
type bundleSender struct {
	write     func(ctx context.Context, b service.MessageBatch) error
	delivered func(bs []engine.Bundle)
	// period is the longest bundles are gathered before a write: until
	// then, a write waits for every source partition that sent bundles,
	// and is not idle, to have passed the latest window end queued. Source
	// partitions pass a window end close together, so their bundles go in
	// one write (one produce request, one batch and one state write of
	// stage 2).
	period     time.Duration
	maxPending int
	after      func(time.Duration) <-chan time.Time // the clock (tests replace it)
	log        *service.Logger
	m          *metrics

	mu      sync.Mutex
	queue   []engine.Bundle
	queued  int64            // the latest window end (To, µs) in queue
	reached map[string]int64 // source partition → the latest window end it queued
	pending int              // queued or being written
	room    chan struct{}    // closed when pending shrinks
	wake    chan struct{}
	errLog  ratelog.Limiter

	ctx       context.Context
	cancel    context.CancelFunc
	started   atomic.Bool
	draining  chan struct{} // closed by Close: write what is queued, then stop
	done      chan struct{}
	closeOnce sync.Once
}

var errSenderClosed = errors.New("tumbling_window: the bundle sender is closed")

func newBundleSender(write func(context.Context, service.MessageBatch) error, delivered func([]engine.Bundle),
	period time.Duration, maxPending int, log *service.Logger, m *metrics) *bundleSender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &bundleSender{write: write, delivered: delivered, period: period, maxPending: maxPending, after: time.After,
		log: log, m: m, room: make(chan struct{}), reached: map[string]int64{}, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, draining: make(chan struct{}), done: make(chan struct{})}
	m.bundlesPending.Set(0)
	m.bundleWriteErrors.Incr(0)
	return s
}

// start runs the writer; separate from the constructor so that tests can
// replace the clock first.
func (s *bundleSender) start() {
	if s.started.CompareAndSwap(false, true) {
		go s.run()
	}
}

// add queues bundles; it never blocks (waitRoom does, before a batch takes
// the processor's lock).
func (s *bundleSender) add(bs []engine.Bundle) {
	if len(bs) == 0 {
		return
	}
	s.mu.Lock()
	if len(s.queue) == 0 {
		s.queued = math.MinInt64
	}
	for i := range bs {
		b := &bs[i]
		if b.To == b.From && len(b.Partials) == 0 {
			continue // an announcement, no window end passed
		}
		k := engine.Position{Topic: b.Source.Topic, Partition: b.Source.Partition}.Key()
		if b.Source.Idle {
			// An idle partition passes no window end until it delivers
			// again: waited for, it held every later write for period.
			// Nor do the windows its going idle flushed set the end the
			// others must pass.
			delete(s.reached, k)
			continue
		}
		if r, ok := s.reached[k]; !ok || b.To > r {
			s.reached[k] = b.To
		}
		s.queued = max(s.queued, b.To)
	}
	s.queue = append(s.queue, bs...)
	s.pending += len(bs)
	s.m.bundlesPending.Set(int64(s.pending))
	s.mu.Unlock()
	s.notify()
}

// notify wakes the writer (without blocking: one pending wake is enough).
func (s *bundleSender) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// waitRoom holds a batch while maxPending bundles are unwritten (the
// internal topic is down or slow): the input stops reading meanwhile, and
// the state does not grow without bound.
func (s *bundleSender) waitRoom(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.pending < s.maxPending {
			s.mu.Unlock()
			return nil
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return errSenderClosed
		}
	}
}

func (s *bundleSender) run() {
	defer close(s.done)
	for {
		select {
		case <-s.wake:
			if s.period > 0 && !s.gather() {
				return
			}
		case <-s.draining:
		case <-s.ctx.Done():
			return
		}
		s.mu.Lock()
		bs := s.queue
		s.queue = nil
		s.mu.Unlock()
		if len(bs) > 0 {
			if !s.writeRetrying(bs) {
				return
			}
			s.delivered(bs)
			s.mu.Lock()
			s.pending -= len(bs)
			s.m.bundlesPending.Set(int64(s.pending))
			close(s.room)
			s.room = make(chan struct{})
			s.mu.Unlock()
		}
		select {
		case <-s.draining:
			s.mu.Lock()
			empty := len(s.queue) == 0
			s.mu.Unlock()
			if empty {
				return
			}
		default:
		}
	}
}

// gather waits until every source partition that sent bundles has passed
// the latest window end queued, or for period (false: closed meanwhile).
func (s *bundleSender) gather() bool {
	deadline := s.after(s.period)
	for !s.caughtUp() {
		select {
		case <-deadline:
			return true
		case <-s.wake:
		case <-s.draining:
			return true
		case <-s.ctx.Done():
			return false
		}
	}
	return true
}

func (s *bundleSender) caughtUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.reached {
		if r < s.queued {
			return false
		}
	}
	return true
}

// forget stops waiting for a source partition this process lost.
func (s *bundleSender) forget(k string) {
	s.mu.Lock()
	delete(s.reached, k)
	s.mu.Unlock()
	s.notify()
}

// writeRetrying writes bs until it succeeds (false: closed first, or a
// write failed while closing). A write is retried whole: stage 2 takes each
// bundle once however often it comes.
func (s *bundleSender) writeRetrying(bs []engine.Bundle) bool {
	for attempt := 0; ; attempt++ {
		batch, err := bundleMessages(bs)
		if err == nil {
			if err = s.write(s.ctx, batch); err == nil {
				return true
			}
		}
		if s.ctx.Err() != nil {
			return false
		}
		s.m.bundleWriteErrors.Incr(1)
		select {
		case <-s.draining: // closing: they stay in the state
			s.log.Warnf("tumbling_window: %d bundles not written at close, left in the state for the next owner: %v", len(bs), err)
			return false
		default:
		}
		if ok, n := s.errLog.Note(time.Now(), 10*time.Second); ok {
			s.log.Errorf("tumbling_window: writing %d bundles failed (%d failures since the last such line), retrying; the source offsets still commit, with the bundles in the state: %v%s", len(bs), n, err, shardHint(bs, err))
		}
		select {
		case <-s.after(senderBackoff(attempt)):
		case <-s.ctx.Done():
			return false
		}
	}
}

// senderBackoff is 100ms doubled per attempt, at most 5s.
func senderBackoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
}

// bundleMessages renders bundles as messages of their own (no batch to
// derive them from): the metadata bundleBatch sets.
func bundleMessages(bs []engine.Bundle) (service.MessageBatch, error) {
	return bundleBatch(service.NewMessage(nil), bs)
}

// Close writes what is queued, until ctx ends, and stops the writer;
// idempotent. Bundles left unwritten stay in the state, and are sent again
// by whoever loads it.
func (s *bundleSender) Close(ctx context.Context) {
	s.closeOnce.Do(func() {
		defer s.cancel()
		if s.started.CompareAndSwap(false, true) {
			return // never started
		}
		close(s.draining)
		select {
		case <-s.done:
		case <-ctx.Done():
			s.cancel()
			<-s.done
		}
	})
}
