package franz

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Empty-partition notices (ConsumerConfig.EmptyNotices). Chunk.Empty rides
// on the chunks of partitions that deliver, so a consumer that owns only
// partitions that never receive a record hands nothing downstream, and a
// stage that must announce them (tumbling_window stage partial, whose
// announcement goes out in the input's transaction) never runs. A notice is
// a chunk without records, one per owned partition and assignment epoch,
// once the partition is read to its end without a record delivered since
// the assignment (or the last rewind): Chunk.Notice, Empty = {Partition}.
// A partition with records to read is never noticed, so a backlog's results
// do not change. A caught-up notice (ConsumerConfig.CaughtUpNotices) is the
// same chunk with CaughtUp and no Empty, handed out without the delay.

// noticesOn: the consumer hands out notices of either kind.
func (c *Consumer) noticesOn() bool {
	return (c.conf.EmptyNotices || c.conf.CaughtUpNotices) && c.conf.Group != ""
}

// noticesLocked (c.mu held) returns the notices due: partitions owned,
// with nothing delivered in their epoch, read to their end, and not noticed
// in this epoch yet. Sorted by topic and partition.
func (c *Consumer) noticesLocked() []Chunk {
	if !c.noticesOn() {
		return nil
	}
	var out []Chunk
	now := c.now()
	for tp := range c.assigned {
		if c.caughtUpCandidateLocked(tp) {
			c.caughtUp[tp] = c.epochs[tp]
			out = append(out, c.noticeLocked(tp, true))
		}
		if c.noticeCandidateLocked(tp) && !now.Before(c.noticeDueLocked(tp)) {
			c.noticed[tp] = c.epochs[tp]
			out = append(out, c.noticeLocked(tp, false))
		}
	}
	slices.SortStableFunc(out, func(a, b Chunk) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// noticeLocked (c.mu held) is tp's notice in its current epoch.
func (c *Consumer) noticeLocked(tp topicPartition, caughtUp bool) Chunk {
	tr, gen, start := c.partitionStateLocked(tp)
	var empty []int32
	if !caughtUp {
		empty = []int32{tp.partition}
	}
	// The partition's tracker makes the notice stale (Chunk.Live) once
	// the partition is revoked or rewound, as its records would be.
	return Chunk{Topic: tp.topic, Partition: tp.partition, TopicPartitions: c.topicParts[tp.topic], Empty: empty, Prev: -1,
		Epoch: c.epochs[tp], Start: start, Commit: c.commitLocked(tp), Generation: gen, Notice: true, CaughtUp: caughtUp, tr: tr}
}

// awaitNotices returns the notices due (an assignment made while the
// previous Poll waited), or else the context for PollFetches, which a
// notice falling due ends (wakeForNoticesLocked; stopWaking after it).
func (c *Consumer) awaitNotices(ctx context.Context) ([]Chunk, context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if notices := c.noticesLocked(); len(notices) > 0 {
		return notices, ctx
	}
	pctx, wake := context.WithCancel(ctx)
	c.pollWake = wake
	c.scheduleNoticeLocked()
	return nil, pctx
}

// scheduleNoticeLocked (c.mu held, a Poll waiting) sets a timer that ends
// the wait when the first notice EmptyNoticeDelay holds back falls due.
func (c *Consumer) scheduleNoticeLocked() {
	var due time.Time
	for tp := range c.assigned {
		if c.caughtUpCandidateLocked(tp) {
			due = c.now()
			break
		}
		if c.noticeCandidateLocked(tp) {
			if at := c.noticeDueLocked(tp); due.IsZero() || at.Before(due) {
				due = at
			}
		}
	}
	if due.IsZero() {
		return
	}
	if c.noticeTimer != nil {
		c.noticeTimer()
	}
	c.noticeTimer = c.afterFunc(max(due.Sub(c.now()), 0), c.pollWake)
}

func (c *Consumer) stopWaking() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pollWake != nil {
		c.pollWake()
		c.pollWake = nil
	}
	if c.noticeTimer != nil {
		c.noticeTimer()
		c.noticeTimer = nil
	}
}

// noticeCandidateLocked (c.mu held): tp is owned, has delivered nothing in
// its epoch, is read to its end, and was not noticed in this epoch yet.
func (c *Consumer) noticeCandidateLocked(tp topicPartition) bool {
	return c.conf.EmptyNotices && c.noticed[tp] != c.epochs[tp] && c.quietAtEndLocked(tp)
}

// caughtUpCandidateLocked (c.mu held): as noticeCandidateLocked, for the
// caught-up notice, which has no delay.
func (c *Consumer) caughtUpCandidateLocked(tp topicPartition) bool {
	return c.conf.CaughtUpNotices && c.caughtUp[tp] != c.epochs[tp] && c.quietAtEndLocked(tp)
}

// quietAtEndLocked (c.mu held): tp is owned, has delivered nothing in its
// epoch, and is read to its end.
func (c *Consumer) quietAtEndLocked(tp topicPartition) bool {
	_, delivered := c.last[tp]
	return c.assigned[tp] && !delivered && c.atEndLocked(tp)
}

// noticeDueLocked (c.mu held) is when tp's notice may go out: its epoch's
// start plus EmptyNoticeDelay.
func (c *Consumer) noticeDueLocked(tp topicPartition) time.Time {
	return c.epochAt[tp].Add(c.conf.EmptyNoticeDelay)
}

func (c *Consumer) now() time.Time {
	if c.conf.Now != nil {
		return c.conf.Now()
	}
	return time.Now()
}

func (c *Consumer) afterFunc(d time.Duration, f func()) func() bool {
	if c.conf.AfterFunc != nil {
		return c.conf.AfterFunc(d, f)
	}
	return time.AfterFunc(d, f).Stop
}

// wakeForNoticesLocked (c.mu held) ends the Poll waiting for records when
// a notice is due: an owned partition that never receives a record would
// otherwise keep it waiting for ever.
func (c *Consumer) wakeForNoticesLocked() {
	if c.pollWake == nil || !c.noticesOn() {
		return
	}
	now := c.now()
	for tp := range c.assigned {
		if c.caughtUpCandidateLocked(tp) || c.noticeCandidateLocked(tp) && !now.Before(c.noticeDueLocked(tp)) {
			c.pollWake()
			return
		}
	}
	c.scheduleNoticeLocked() // an assignment made while the Poll waited
}

// listStableEnds sets, for a read_committed consumer with notices, where
// each assigned partition's committed records end (the last stable offset:
// ListOffsets at isolation level read_committed) and where its fetching
// starts, which adjustOffsets leaves unset at that level. at is the
// committed offset per partition (-1: none).
func (c *Consumer) listStableEnds(ctx context.Context, adm *kadm.Client, topics []string, at map[topicPartition]int64) {
	stable, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		c.log.Warnf("kafka: cannot list the last stable offsets (no empty-partition notices for this assignment): %v", err)
		return
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		c.log.Warnf("kafka: cannot list the log starts (no empty-partition notices for this assignment): %v", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp, off := range at {
		e, okE := stable.Lookup(tp.topic, tp.partition)
		s, okS := starts.Lookup(tp.topic, tp.partition)
		if !okE || !okS {
			continue
		}
		c.knowRangeLocked(tp, off, s.Offset, e.Offset)
	}
}
