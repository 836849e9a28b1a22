package franz

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// adjustOffsets runs after the group fetched its committed offsets and before
// consuming starts. A commit outside the partition's log (retention deleted
// the records, or the topic was recreated) means data loss: it is logged with
// the skipped range and counted, then the partition is reset per start_offset
// (earliest and committed: the log start; latest: the log end), or, with
// fail_on_data_loss, the consumer stops with an error.
func (c *Consumer) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	c.mu.Lock()
	cl := c.groupCl // set by onAssigned, which franz-go runs first
	for t, ps := range offsets {
		for p, o := range ps {
			if at := o.EpochOffset().Offset; at >= 0 {
				c.starts[topicPartition{t, p}] = at // Chunk.Start
			}
		}
	}
	c.mu.Unlock()
	if cl == nil || len(offsets) == 0 {
		return offsets, nil
	}
	topics := make([]string, 0, len(offsets))
	for t := range offsets {
		topics = append(topics, t)
	}
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	ends, err2 := adm.ListEndOffsets(ctx, topics...)
	if err2 == nil {
		err2 = ends.Error()
	}
	if err != nil || err2 != nil {
		c.log.Warnf("kafka: cannot check committed offsets against the log range (data-loss detection skipped for this assignment): %v %v", err, err2)
		return offsets, nil
	}
	for t, ps := range offsets {
		for p, o := range ps {
			at := o.EpochOffset().Offset
			if at < 0 {
				continue // no commit: the start_offset policy applies
			}
			s, okS := starts.Lookup(t, p)
			e, okE := ends.Lookup(t, p)
			if !okS || !okE || (at >= s.Offset && at <= e.Offset) {
				continue
			}
			reset := s.Offset
			if c.conf.StartOffset == "latest" {
				reset = e.Offset
			}
			var what string
			if at < s.Offset {
				what = fmt.Sprintf("committed offset %d is below the log start %d: records [%d, %d) were deleted before being consumed", at, s.Offset, at, s.Offset)
				if reset > s.Offset {
					what += fmt.Sprintf(", and resetting to the log end skips [%d, %d) too", s.Offset, reset)
				}
			} else {
				what = fmt.Sprintf("committed offset %d is beyond the log end %d (log truncated or topic recreated)", at, e.Offset)
			}
			if err := c.dataLoss(t, p, what, fmt.Sprintf("resuming at offset %d", reset)); err != nil {
				return nil, err
			}
			ps[p] = kgo.NewOffset().At(reset).WithEpoch(-1)
		}
	}
	pinned := c.pinLatest(ctx, adm, topics, offsets, ends)
	c.mu.Lock()
	for t, ps := range ends {
		c.topicParts[t] = int32(len(ps))
		c.reportPartitions(t, int32(len(ps)))
	}
	for t, ps := range offsets {
		for p, o := range ps {
			tp := topicPartition{t, p}
			at := o.EpochOffset().Offset
			if at >= 0 && !pinned[tp] {
				c.next[tp] = at
			}
			// Where fetching starts and where the log ends, so Lagging
			// knows which partitions have a backlog before their first fetch.
			s, okS := starts.Lookup(t, p)
			e, okE := ends.Lookup(t, p)
			if !okS || !okE || c.conf.IsolationLevel == "read_committed" {
				continue // the end is not the last stable offset: learn it from fetches
			}
			if pinned[tp] {
				at = -1 // the listed end itself, as start_offset says
			}
			c.knowRangeLocked(tp, at, s.Offset, e.Offset)
		}
	}
	hook := c.afterAdjust
	c.mu.Unlock()
	c.commitPinned(ctx, offsets, pinned)
	if c.noticesOn() && c.conf.IsolationLevel == "read_committed" {
		at := map[topicPartition]int64{}
		for t, ps := range offsets {
			for p, o := range ps {
				at[topicPartition{t, p}] = o.EpochOffset().Offset
			}
		}
		c.listStableEnds(ctx, adm, topics, at)
	}
	c.mu.Lock()
	c.wakeForNoticesLocked()
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return offsets, nil
}

// checkGaps catches records lost while consuming: franz-go silently resumes
// at the log start when retention overtakes a lagging consumer. A jump in
// offsets alone is not loss (compaction, transaction markers, aborted
// transactions under read_committed), so a jump is only reported when the
// log start moved past the offset we expected. The fetch response carries
// the partition's log start (Fetch v5+): a jump it explains costs no
// request, so a read_committed consumer does not send one ListOffsets per
// poll for the commit marker every transaction leaves. Only a broker that
// does not send it (-1) makes the consumer list the log start.
func (c *Consumer) checkGaps(ctx context.Context, cl *kgo.Client, fetches kgo.Fetches) {
	type gap struct {
		tp          topicPartition
		want, first int64
		start       int64 // the log start the fetch reported, -1 if none
	}
	var gaps []gap
	unknown := map[string]bool{} // topics whose log start must be listed
	c.mu.Lock()
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		tp := topicPartition{p.Topic, p.Partition}
		want, ok := c.next[tp]
		if !ok || p.Records[0].Offset <= want {
			return
		}
		if p.LogStartOffset >= 0 && p.LogStartOffset <= want {
			return // compaction or transaction markers, not loss
		}
		gaps = append(gaps, gap{tp, want, p.Records[0].Offset, p.LogStartOffset})
		if p.LogStartOffset < 0 {
			unknown[p.Topic] = true
		}
	})
	c.mu.Unlock()
	if len(gaps) == 0 {
		return
	}
	var starts kadm.ListedOffsets
	if len(unknown) > 0 {
		names := make([]string, 0, len(unknown))
		for t := range unknown {
			names = append(names, t)
		}
		var err error
		if starts, err = kadm.NewClient(cl).ListStartOffsets(ctx, names...); err != nil {
			c.log.Warnf("kafka: cannot check an offset jump against the log start: %v", err)
			starts = nil
		}
	}
	for _, g := range gaps {
		start := g.start
		if start < 0 {
			s, ok := starts.Lookup(g.tp.topic, g.tp.partition)
			if !ok || s.Err != nil {
				continue // unknown: not reported
			}
			start = s.Offset
		}
		if start <= g.want {
			continue // compaction or transaction markers, not loss
		}
		_ = c.dataLoss(g.tp.topic, g.tp.partition, fmt.Sprintf(
			"records [%d, %d) were deleted (log start is now %d) before being consumed",
			g.want, min(start, g.first), start), fmt.Sprintf("resumed at offset %d", g.first))
	}
}

// resetOutOfRange handles OffsetOutOfRange with start_offset: committed,
// where franz-go does not reset by itself: reset to the log start and warn,
// or stop with fail_on_data_loss.
func (c *Consumer) resetOutOfRange(ctx context.Context, cl *kgo.Client, topic string, partition int32) {
	tp := topicPartition{topic, partition}
	c.mu.Lock()
	want, known := c.next[tp]
	c.mu.Unlock()
	starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, topic)
	var start int64
	if err == nil {
		s, ok := starts.Lookup(topic, partition)
		if !ok || s.Err != nil {
			err = fmt.Errorf("no start offset for topic %s partition %d", topic, partition)
		}
		start = s.Offset
	}
	if err != nil {
		c.log.Warnf("kafka: topic %s partition %d: offset out of range and the log start is unknown (%v); retrying", topic, partition, err)
		return
	}
	lost := "offset out of range"
	if known {
		lost = fmt.Sprintf("offset %d out of range: records [%d, %d) were deleted before being consumed", want, want, start)
	}
	if c.dataLoss(topic, partition, lost, fmt.Sprintf("resuming at the log start %d", start)) != nil {
		return
	}
	cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{topic: {partition: {Epoch: -1, Offset: start}}})
	c.mu.Lock()
	c.next[tp] = start
	c.mu.Unlock()
}

// ErrDataLoss wraps the error that stops the consumer when
// fail_on_data_loss is set.
var ErrDataLoss = errors.New("kafka: data loss")

// dataLoss logs and counts a reset: lost says what was lost, resume where
// consumption goes on. With fail_on_data_loss it does not go on: the consumer
// turns fatal and the error is returned.
func (c *Consumer) dataLoss(topic string, partition int32, lost, resume string) error {
	if c.met != nil {
		c.met.OffsetReset(topic, partition)
	}
	if c.conf.FailOnDataLoss {
		err := fmt.Errorf("%w on topic %s partition %d: %s (fail_on_data_loss is true: stopping, nothing after the loss is delivered or committed)", ErrDataLoss, topic, partition, lost)
		c.log.Errorf("%v", err)
		c.mu.Lock()
		if c.fatal == nil {
			c.fatal = err
		}
		c.mu.Unlock()
		return err
	}
	c.log.Warnf("kafka: data loss on topic %s partition %d: %s; %s (fail_on_data_loss is false)", topic, partition, lost, resume)
	return nil
}

// knowRangeLocked (c.mu held) records where tp's fetching starts (its
// committed offset, or start_offset's end of the log when none: -1) and
// where its log ends, so Lagging and the empty-partition checks know a
// backlog before the partition's first fetch.
func (c *Consumer) knowRangeLocked(tp topicPartition, committed, logStart, logEnd int64) {
	switch {
	case committed >= 0:
		c.pos[tp] = committed
	case c.conf.StartOffset == "latest":
		c.pos[tp] = logEnd
	default:
		c.pos[tp] = logStart
	}
	c.ends[tp] = max(c.ends[tp], logEnd)
}
