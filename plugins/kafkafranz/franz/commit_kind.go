package franz

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// What a partition's committed offset was when this consumer was assigned
// it (Chunk.Commit), told apart by the commit's metadata string: the start
// offset pinned for latest (start_latest.go) is committed with
// StartCommitMetadata, every other commit by franz-go with its member ID.
// A stage that makes its state durable before each offset commit
// (tumbling_window state.sync: commit) knows from CommitProgress that a
// state which saw the records before that offset was written: finding no
// state then means it was lost. CommitStart is not progress: latest
// commits it at assignment, before any record or state.
const (
	CommitNone     = "none"     // no committed offset (or no group)
	CommitStart    = "start"    // only the start pinned by start_offset latest
	CommitProgress = "progress" // an offset committed after records were acked (or by another tool)
)

// StartCommitMetadata is the offset-commit metadata of a start pin.
const StartCommitMetadata = "rides-connect:start"

// withStartMetadata is ctx for a commit whose every offset is a start pin.
func withStartMetadata(ctx context.Context) context.Context {
	md := StartCommitMetadata
	return kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				req.Topics[i].Partitions[j].Metadata = &md
			}
		}
		return nil
	})
}

// onFetched (kgo.OnOffsetsFetched, before adjustOffsets) records each
// assigned partition's commit kind from the group's fetched offsets. A
// topic the response names by ID only (OffsetFetch v10) is looked up in
// the metadata; one still unknown is left out: its kind reads none, as
// before this check existed.
func (c *Consumer) onFetched(ctx context.Context, cl *kgo.Client, resp *kmsg.OffsetFetchResponse) error {
	kinds := map[topicPartition]string{}
	var byID map[[16]byte]string
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			name := t.Topic
			if name == "" {
				if byID == nil {
					byID = topicNamesByID(ctx, cl)
				}
				if name = byID[t.TopicID]; name == "" {
					continue
				}
			}
			for _, p := range t.Partitions {
				kinds[topicPartition{name, p.Partition}] = commitKind(p.Offset, p.Metadata)
			}
		}
	}
	for _, t := range resp.Topics { // OffsetFetch below v8, if not normalised
		for _, p := range t.Partitions {
			kinds[topicPartition{t.Topic, p.Partition}] = commitKind(p.Offset, p.Metadata)
		}
	}
	c.mu.Lock()
	for tp, k := range kinds {
		c.commits[tp] = k
	}
	c.mu.Unlock()
	return nil
}

// commitLocked (c.mu held) is tp's Chunk.Commit.
func (c *Consumer) commitLocked(tp topicPartition) string {
	if k, ok := c.commits[tp]; ok {
		return k
	}
	return CommitNone
}

// commitKind classifies one fetched commit.
func commitKind(offset int64, metadata *string) string {
	switch {
	case offset < 0:
		return CommitNone
	case metadata != nil && *metadata == StartCommitMetadata:
		return CommitStart
	default:
		return CommitProgress
	}
}

// topicNamesByID maps topic IDs to names from the cluster's metadata (nil
// on error).
func topicNamesByID(ctx context.Context, cl *kgo.Client) map[[16]byte]string {
	md, err := kadm.NewClient(cl).Metadata(ctx)
	if err != nil {
		return nil
	}
	m := map[[16]byte]string{}
	for name, t := range md.Topics {
		m[t.ID] = name
	}
	return m
}
