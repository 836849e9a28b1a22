package franz

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Offsets held for the process's commit barrier (internal/commitbarrier).
//
// While a processor of this process keeps state that it makes durable only
// before offset commits (tumbling_window state.sync: commit), an acked record
// is not marked for commit at once: it is held, and every commit period (and
// before the commit on revoke) the consumer takes what is held, flushes the
// barrier, and marks those records only if the flush succeeded. franz-go's
// autocommit then commits marks only, so no offset is committed past state
// that is not durable. Without registered flushes acks mark at once, as
// before.

// flushTimeout bounds a flush: during a state-store outage the store's
// retries would otherwise hold the release lock, and with it the revoke of a
// rebalance, for as long as the outage lasts. A flush that times out commits
// nothing; the next one retries. A variable for tests.
var flushTimeout = 10 * time.Second

// heldMarks is, per partition, the offset to commit after the last acked
// record not yet marked. Offsets, not records: a record would pin its whole
// fetch response (value bytes and record slice) in memory until released.
type heldMarks struct {
	// release serialises releases with each other and with the revoke, so a
	// partition is never marked after its revoke's commit.
	release sync.Mutex
	mu      sync.Mutex
	offs    map[topicPartition]kgo.EpochOffset
}

// markAcked marks rec for commit, or holds it while the barrier is active.
func (c *Consumer) markAcked(cl *kgo.Client, tp topicPartition, rec *kgo.Record) {
	if !c.barrier.Active() {
		cl.MarkCommitRecords(rec)
		return
	}
	c.held.mu.Lock()
	if c.held.offs == nil {
		c.held.offs = map[topicPartition]kgo.EpochOffset{}
	}
	// Acks come in offset order per partition; +1 as MarkCommitRecords.
	c.held.offs[tp] = kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset + 1}
	c.held.mu.Unlock()
}

// releaseHeldLocked (held.release held) flushes the barrier and marks what
// was held before the flush, for the partitions still assigned. On failure
// the records stay held for the next attempt.
func (c *Consumer) releaseHeldLocked(ctx context.Context, cl *kgo.Client) {
	c.held.mu.Lock()
	offs := c.held.offs
	c.held.offs = nil
	c.held.mu.Unlock()
	if len(offs) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	err := c.confirmMember(fctx, cl) // member_check.go
	if err == nil {
		// What the flush's state must cover (commitbarrier.OnCommitting).
		topics := make([]string, 0, 1)
		for tp, o := range offs {
			c.barrier.Committing(tp.topic, tp.partition, o.Offset, c.resumedFrom(tp))
			if !slices.Contains(topics, tp.topic) {
				topics = append(topics, tp.topic)
			}
		}
		// Only the state kept for these topics' records (another stage of
		// the process commits on its own).
		err = c.barrier.FlushFor(fctx, topics)
	}
	if err != nil {
		if errors.Is(err, ErrNotMember) {
			c.log.Warnf("kafka: state not written, offsets not committed: %v", err)
			c.barrier.Fenced() // the window's state is older than the new owner's
		} else {
			c.log.Warnf("kafka: state not made durable, offsets not committed (retried at the next commit_period): %v", err)
		}
		c.held.mu.Lock()
		if c.held.offs == nil {
			c.held.offs = map[topicPartition]kgo.EpochOffset{}
		}
		for tp, o := range offs {
			if _, newer := c.held.offs[tp]; !newer {
				c.held.offs[tp] = o
			}
		}
		c.held.mu.Unlock()
		return
	}
	// Acked before the flush: what the records emitted is delivered
	// (commitbarrier.OnAcked), whether or not the partition is still ours.
	for tp, o := range offs {
		c.barrier.Acked(tp.topic, tp.partition, o.Offset)
	}
	marks := map[string]map[int32]kgo.EpochOffset{}
	c.mu.Lock()
	for tp, o := range offs {
		if c.assigned[tp] {
			if marks[tp.topic] == nil {
				marks[tp.topic] = map[int32]kgo.EpochOffset{}
			}
			marks[tp.topic][tp.partition] = o
		}
	}
	c.mu.Unlock()
	// A revoke cannot come between the check and the mark: it waits for
	// held.release, which the caller holds.
	cl.MarkCommitOffsets(marks)
}

// forgetHeld drops what is held for partitions no longer ours.
func (c *Consumer) forgetHeld(parts map[string][]int32) {
	c.held.mu.Lock()
	defer c.held.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			delete(c.held.offs, topicPartition{t, p})
		}
	}
}

// releaseLoop releases held records every commit period until cl is no
// longer the consumer's client or the consumer is closed.
func (c *Consumer) releaseLoop(cl *kgo.Client) {
	period := c.conf.CommitPeriod
	if period <= 0 {
		period = 5 * time.Second // franz-go's default autocommit interval
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for range t.C {
		if c.client() != cl {
			return
		}
		c.releaseHeld(context.Background(), cl)
	}
}

// releaseHeld is releaseHeldLocked under the release lock.
func (c *Consumer) releaseHeld(ctx context.Context, cl *kgo.Client) {
	c.held.release.Lock()
	defer c.held.release.Unlock()
	c.releaseHeldLocked(ctx, cl)
}

// reads reports whether this consumer reads topic: one it subscribes to by
// name, or one it has a partition of (a regex subscription). Its membership
// check (commitbarrier.OnConfirmFor) concerns those topics only.
func (c *Consumer) reads(topic string) bool {
	return slices.Contains(c.readTopics(), topic)
}

// readTopics is what this consumer reads now: its named topics and those it
// has partitions of.
func (c *Consumer) readTopics() []string {
	topics := slices.Clone(c.conf.Topics.Topics)
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp, ok := range c.assigned {
		if ok && !slices.Contains(topics, tp.topic) {
			topics = append(topics, tp.topic)
		}
	}
	return topics
}

// resumedFrom is the committed offset of progress tp's current assignment
// resumed from, -1 when the group had none or only a start pin
// (commitbarrier.OnCommitting).
func (c *Consumer) resumedFrom(tp topicPartition) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.starts[tp]; ok && c.commitLocked(tp) == CommitProgress {
		return s
	}
	return -1
}
