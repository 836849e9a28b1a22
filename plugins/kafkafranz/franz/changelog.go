package franz

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Changelog is a read view of a compacted topic written in transactions:
// Get returns the latest committed value of a key. Each Get first reads the
// topic up to its last stable offsets as of the call (read_committed), so it
// sees every transaction whose markers were written by then; records of
// aborted or open transactions are never seen. A key with a record past a
// partition's last stable offset is pending (ErrChangelogPending): a newer
// committed value may lie behind an open transaction (see pending.go). The
// first Get reads the whole topic; later ones only what was appended since.
// Memory: the latest value of every key.
type Changelog struct {
	conf  ClientConfig
	topic string
	log   Logger

	mu     sync.Mutex
	cl     *kgo.Client
	next   map[int32]int64 // next offset to read, per partition
	values map[string][]byte
}

// ErrChangelogKeyNotFound is returned by Get for a key with no committed
// value (never written, or deleted by a tombstone).
var ErrChangelogKeyNotFound = errors.New("key not found in the changelog topic")

// NewChangelog returns an unconnected view of topic.
func NewChangelog(conf ClientConfig, topic string, log Logger) *Changelog {
	return &Changelog{conf: conf, topic: topic, log: log, next: map[int32]int64{}, values: map[string][]byte{}}
}

// Get returns key's latest committed value.
func (c *Changelog) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stable, err := c.catchUpLocked(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.checkNotPendingLocked(ctx, key, stable); err != nil {
		return nil, err
	}
	v, ok := c.values[key]
	if !ok {
		return nil, ErrChangelogKeyNotFound
	}
	return v, nil
}

// catchUpLocked reads every partition up to its last stable offset as of
// now, and returns those offsets.
func (c *Changelog) catchUpLocked(ctx context.Context) (map[int32]int64, error) {
	if c.cl == nil {
		opts, err := c.conf.Options(c.log)
		if err != nil {
			return nil, err
		}
		// Partitions are added as they are discovered (see below); the
		// control records (transaction markers) are kept so the reader
		// knows it reached an offset that is a marker.
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{}),
			// The topic is often created by the job's own output just before
			// the first Get: kadm's offset listing answers from metadata
			// cached up to the min age (franz-go's default 5 s), so a topic
			// first seen missing would stay missing that long.
			kgo.MetadataMinAge(txnMetadataMinAge))
		if c.cl, err = kgo.NewClient(opts...); err != nil {
			return nil, fmt.Errorf("kafka client: %w", err)
		}
	}
	stable, err := kadm.NewClient(c.cl).ListCommittedOffsets(ctx, c.topic)
	if err != nil {
		return nil, c.conf.ConnectError(err)
	}
	if err := stable.Error(); err != nil {
		return nil, fmt.Errorf("changelog topic %s: %w", c.topic, err)
	}
	lso := map[int32]int64{}
	target := map[int32]int64{}
	add := map[string]map[int32]kgo.Offset{}
	stable.Each(func(o kadm.ListedOffset) {
		lso[o.Partition] = o.Offset
		if _, known := c.next[o.Partition]; !known {
			c.next[o.Partition] = 0
			if add[c.topic] == nil {
				add[c.topic] = map[int32]kgo.Offset{}
			}
			add[c.topic][o.Partition] = kgo.NewOffset().AtStart()
		}
		if o.Offset > c.next[o.Partition] {
			target[o.Partition] = o.Offset
		}
	})
	if len(add) > 0 {
		c.cl.AddConsumePartitions(add)
	}
	for len(target) > 0 {
		fs := c.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			c.log.Warnf("kafka: changelog %s partition %d: %v", t, p, err)
			fetchErr = err
		})
		fs.EachRecord(func(r *kgo.Record) {
			c.next[r.Partition] = r.Offset + 1
			if end, ok := target[r.Partition]; ok && r.Offset+1 >= end {
				delete(target, r.Partition)
			}
			switch {
			case r.Attrs.IsControl():
			case r.Value == nil:
				delete(c.values, string(r.Key)) // tombstone
			default:
				c.values[string(r.Key)] = r.Value
			}
		})
		if fetchErr != nil && fs.NumRecords() == 0 {
			return nil, fmt.Errorf("changelog topic %s: %w", c.topic, fetchErr)
		}
	}
	return lso, nil
}

// Close closes the client.
func (c *Changelog) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cl != nil {
		c.cl.Close()
		c.cl = nil
	}
}
