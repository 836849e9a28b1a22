package franz

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// start_offset latest, and a partition the group has never committed: the
// consumer starts at the log end listed now and commits that offset at once,
// as Spark records its initial offsets when a query starts. Otherwise nothing
// is committed until a record is acked, and a process killed before that
// (idle topic, or during start-up) resolves "latest" again on restart: every
// record written while it was down is skipped (red team, 4 Dec: 6 000 rides
// of a live stream lost by one SIGKILL of config/rides.yaml).

// pinLatest replaces, in offsets, "no commit" by the log end for latest,
// and reports the partitions it pinned: ends (the high watermarks) for
// read_uncommitted, the last stable offsets listed now for read_committed,
// where franz-go's own "latest" is that offset too (records of a
// transaction still open there are delivered once it commits). A
// transactional consumer commits it too, outside its transactions (a plain
// commit of the current generation, as any member may): its transactions
// commit its offsets only from its first record on.
func (c *Consumer) pinLatest(ctx context.Context, adm *kadm.Client, topics []string, offsets map[string]map[int32]kgo.Offset, ends kadm.ListedOffsets) map[topicPartition]bool {
	if c.conf.StartOffset != "latest" || c.conf.Group == "" {
		return nil
	}
	if c.conf.IsolationLevel == "read_committed" {
		stable, err := adm.ListCommittedOffsets(ctx, topics...)
		if err == nil {
			err = stable.Error()
		}
		if err != nil {
			c.log.Warnf("kafka: start_offset latest: cannot list the last stable offsets, the start is not committed before the first record: %v", err)
			return nil
		}
		ends = stable
	}
	pinned := map[topicPartition]bool{}
	for t, ps := range offsets {
		for p, o := range ps {
			if o.EpochOffset().Offset >= 0 {
				continue
			}
			if e, ok := ends.Lookup(t, p); ok && e.Err == nil {
				ps[p] = kgo.NewOffset().At(e.Offset).WithEpoch(-1)
				pinned[topicPartition{t, p}] = true
			}
		}
	}
	return pinned
}

// commitPinned commits the pinned start offsets before consuming starts. A
// failed commit is logged: the next acked record commits anyway.
func (c *Consumer) commitPinned(ctx context.Context, offsets map[string]map[int32]kgo.Offset, pinned map[topicPartition]bool) {
	c.mu.Lock()
	cl := c.groupCl
	c.mu.Unlock()
	if len(pinned) == 0 || cl == nil {
		return
	}
	commit := map[string]map[int32]kgo.EpochOffset{}
	for tp := range pinned {
		if commit[tp.topic] == nil {
			commit[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		commit[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: offsets[tp.topic][tp.partition].EpochOffset().Offset}
	}
	// Marked as a start (commit_kind.go): a restart that finds it knows
	// no state saw records below it.
	cl.CommitOffsetsSync(withStartMetadata(ctx), commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && err == nil {
						err = e
					}
				}
			}
		}
		if err != nil {
			c.log.Warnf("kafka: start_offset latest: could not commit the start offsets %v (a restart before the first acked record would start at the log end again): %v", commit, err)
		}
	})
}
