// Package commitbarrier makes state kept in memory by the processors of this
// process durable before a Kafka consumer of the process commits offsets, as
// Kafka Streams flushes its state stores before each commit. A processor
// (tumbling_window with state.sync: commit) registers a flush; the kafka_franz
// consumers call Flush before every offset commit and commit only what was
// acknowledged before a Flush that succeeded. The state can then be written
// once per commit instead of once per batch: records acknowledged but not yet
// covered by a durable state are simply not committed, and after a crash they
// are read again from the last commit onto the last durable state. It does not
// import Benthos or franz-go.
//
// A flush and a membership check may be scoped to topics (RegisterFor,
// OnConfirmFor): a consumer's commit then waits only for the state kept for
// the topics it reads (FlushFor, ConfirmFor). Two sub-topologies of one
// process (a scale-out job's stage 1 on the source topic, stage 2 on the
// internal one) then commit independently: a failed write of one stage's
// state store holds that stage's offsets, never the other's.
package commitbarrier

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// Barrier is a set of flushes. Safe for concurrent use.
type Barrier struct {
	mu      sync.Mutex
	next    uint64
	flushes map[uint64]scoped[func(context.Context) error]
	acked   map[uint64]func(topic string, partition int32, next int64)
	commit  map[uint64]func(topic string, partition int32, next, from int64)
	done    map[uint64]func(topic string, partition int32, next int64)
	fenced  map[uint64]func()
	confirm map[uint64]scoped[func(context.Context) error]
}

// scoped is a flush or a membership check with the topics it concerns:
// topic reports whether it keeps state for (a flush) or reads (a check)
// a topic; nil means every topic.
type scoped[F any] struct {
	f     F
	topic func(topic string) bool
}

// concerns reports whether s concerns any of topics (all when topics is
// nil: an unscoped Flush or Confirm).
func (s scoped[F]) concerns(topics []string) bool {
	if s.topic == nil || topics == nil {
		return true
	}
	return slices.ContainsFunc(topics, s.topic)
}

// ErrFenced is what a Confirm function returns when its consumer is no
// longer a member of its group.
var ErrFenced = errors.New("a consumer of this process is no longer a member of its group")

// Process is the barrier of this process: tumbling_window registers with it,
// the kafka_franz consumers flush it.
var Process = New()

// New returns an empty barrier.
func New() *Barrier {
	return &Barrier{flushes: map[uint64]scoped[func(context.Context) error]{},
		acked: map[uint64]func(string, int32, int64){}, commit: map[uint64]func(string, int32, int64, int64){},
		done: map[uint64]func(string, int32, int64){}, fenced: map[uint64]func(){},
		confirm: map[uint64]scoped[func(context.Context) error]{}}
}

// Register adds a flush: it must return once everything applied before the
// call is durable. The returned function removes it (idempotent).
func (b *Barrier) Register(flush func(context.Context) error) (unregister func()) {
	return b.RegisterFor(flush, nil)
}

// RegisterFor adds a flush of the state kept for the records of the topics
// keeps reports (nil: every topic): FlushFor runs it only before a commit of
// one of them. keeps must report true for a topic from the first record of
// it the flush's state holds.
func (b *Barrier) RegisterFor(flush func(context.Context) error, keeps func(topic string) bool) (unregister func()) {
	return add(b, b.flushes, scoped[func(context.Context) error]{flush, keeps})
}

// Active reports whether any flush is registered: a consumer then holds its
// acknowledged offsets back until a Flush covers them.
func (b *Barrier) Active() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.flushes) > 0
}

// Flush runs every registered flush, in registration order, outside the
// barrier's lock (a flush may take a store's retries). It returns the errors
// joined; nil means everything applied before the call is durable.
func (b *Barrier) Flush(ctx context.Context) error {
	return b.FlushFor(ctx, nil)
}

// FlushFor is Flush before a commit of offsets of topics: it runs only the
// flushes that keep state for one of them (and the unscoped ones).
func (b *Barrier) FlushFor(ctx context.Context, topics []string) error {
	var errs []error
	for _, s := range snapshot(b, b.flushes) {
		if !s.concerns(topics) {
			continue
		}
		if err := s.f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// OnAcked registers f to learn, after each successful Flush of a consumer,
// up to which offset its partitions' records are acknowledged (every
// record before next). A processor whose output for a record is delivered
// before the record is acknowledged may then forget what it kept to resend
// it. The returned function removes f (idempotent).
func (b *Barrier) OnAcked(f func(topic string, partition int32, next int64)) (unregister func()) {
	return add(b, b.acked, f)
}

// Acked tells the OnAcked listeners that every record of topic/partition
// before offset next is acknowledged.
func (b *Barrier) Acked(topic string, partition int32, next int64) {
	for _, f := range snapshot(b, b.acked) {
		f(topic, partition, next)
	}
}

// OnCommitting registers f to learn, before each Flush of a consumer, up
// to which offset it will commit its partitions if the flush succeeds
// (next), and from which committed offset of progress its current
// assignment of the partition resumed (from; -1 when the group had none, or
// only start_offset latest's start pin): a processor that writes its state
// per partition stamps the state with next, so that a state older than the
// group's commit is recognised when it is read back; one that has not
// loaded the partition (every record since from was dropped before it)
// carries the state of from over to next. Every record before next was
// acknowledged. The returned function removes f (idempotent).
func (b *Barrier) OnCommitting(f func(topic string, partition int32, next, from int64)) (unregister func()) {
	return add(b, b.commit, f)
}

// Committing tells the OnCommitting listeners that a consumer is about to
// flush, then commit topic/partition up to offset next, having resumed it
// from the progress commit from (-1: none).
func (b *Barrier) Committing(topic string, partition int32, next, from int64) {
	for _, f := range snapshot(b, b.commit) {
		f(topic, partition, next, from)
	}
}

// OnCommitted registers f to learn that the broker accepted a commit of
// topic/partition at offset next: a processor that keeps a state per
// committed offset may then delete the older ones. The returned function
// removes f (idempotent).
func (b *Barrier) OnCommitted(f func(topic string, partition int32, next int64)) (unregister func()) {
	return add(b, b.done, f)
}

// Committed tells the OnCommitted listeners that the broker accepted a
// commit of topic/partition at offset next.
func (b *Barrier) Committed(topic string, partition int32, next int64) {
	for _, f := range snapshot(b, b.done) {
		f(topic, partition, next)
	}
}

// OnFenced registers f to learn that a consumer of the process found it is
// no longer a member of its group (paused past its session timeout): its
// partitions belong to another process, which may have written the state
// since. The returned function removes f (idempotent).
func (b *Barrier) OnFenced(f func()) (unregister func()) {
	return add(b, b.fenced, f)
}

// Fenced tells the OnFenced listeners.
func (b *Barrier) Fenced() {
	for _, f := range snapshot(b, b.fenced) {
		f()
	}
}

// OnConfirm registers a consumer's membership check: f returns nil while the
// consumer is a member of its group (cheaply, from a recent proof), an error
// wrapping ErrFenced when it is not. The returned function removes f.
func (b *Barrier) OnConfirm(f func(context.Context) error) (unregister func()) {
	return b.OnConfirmFor(f, nil)
}

// OnConfirmFor registers the membership check of a consumer of the topics
// reads reports (nil: every topic); ConfirmFor runs it only for them.
func (b *Barrier) OnConfirmFor(f func(context.Context) error, reads func(topic string) bool) (unregister func()) {
	return add(b, b.confirm, scoped[func(context.Context) error]{f, reads})
}

// Confirm runs every membership check before a processor writes state that
// a consumer's partitions cover; an error wrapping ErrFenced means one of
// them left its group, and OnFenced listeners are told.
func (b *Barrier) Confirm(ctx context.Context) error {
	return b.ConfirmFor(ctx, nil)
}

// ConfirmFor is Confirm before a processor writes state kept for records of
// topics: only the consumers of those topics are asked (a stage's state
// does not depend on another stage's group).
func (b *Barrier) ConfirmFor(ctx context.Context, topics []string) error {
	for _, s := range snapshot(b, b.confirm) {
		if !s.concerns(topics) {
			continue
		}
		if err := s.f(ctx); err != nil {
			if errors.Is(err, ErrFenced) {
				b.Fenced()
			}
			return err
		}
	}
	return nil
}

// add registers f in m (one of b's sets) under a new id; the returned
// function removes it (idempotent).
func add[F any](b *Barrier, m map[uint64]F, f F) (remove func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	m[id] = f
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(m, id)
	}
}

// snapshot returns the functions of m in registration order, so that they
// run outside the barrier's lock.
func snapshot[F any](b *Barrier, m map[uint64]F) []F {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fs := make([]F, len(ids))
	for i, id := range ids {
		fs[i] = m[id]
	}
	return fs
}
