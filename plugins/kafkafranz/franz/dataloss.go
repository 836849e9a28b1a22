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
	cl := c.client()
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
			if err := c.dataLoss(t, p, fmt.Sprintf("%s; resuming at offset %d", what, reset)); err != nil {
				return nil, err
			}
			ps[p] = kgo.NewOffset().At(reset).WithEpoch(-1)
		}
	}
	return offsets, nil
}

// ErrDataLoss wraps the error that stops the consumer when
// fail_on_data_loss is set.
var ErrDataLoss = errors.New("kafka: data loss")

// dataLoss logs and counts a reset; with fail_on_data_loss it makes the
// consumer fatal and returns the error.
func (c *Consumer) dataLoss(topic string, partition int32, detail string) error {
	if c.met != nil {
		c.met.OffsetReset(topic, partition)
	}
	if c.conf.FailOnDataLoss {
		err := fmt.Errorf("%w on topic %s partition %d: %s (fail_on_data_loss is true, stopping)", ErrDataLoss, topic, partition, detail)
		c.log.Errorf("%v", err)
		c.mu.Lock()
		if c.fatal == nil {
			c.fatal = err
		}
		c.mu.Unlock()
		return err
	}
	c.log.Warnf("kafka: data loss on topic %s partition %d: %s (fail_on_data_loss is false)", topic, partition, detail)
	return nil
}
