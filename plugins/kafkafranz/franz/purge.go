package franz

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// PurgeConfig makes the consumer delete, after its offsets are committed,
// the records below them (Kafka DeleteRecords, KIP-107), as Kafka Streams
// does with its repartition topics. Only for topics the job owns: the
// records are gone for every other consumer too.
type PurgeConfig struct {
	// Interval: at most one DeleteRecords per interval; the offsets
	// committed meanwhile wait for the next commit after it.
	Interval time.Duration
}

// PurgeMetrics is implemented by a ConsumerMetrics that counts purges.
type PurgeMetrics interface {
	// Purged is called per partition of each DeleteRecords request, with
	// the broker's or the request's error (nil: the log start moved).
	Purged(topic string, partition int32, err error)
}

// purgeTimeout bounds one DeleteRecords request: it runs on the commit
// path (after EndTxn, in the autocommit callback).
const purgeTimeout = 10 * time.Second

// purger holds the committed offsets not purged yet.
type purger struct {
	interval time.Duration
	now      func() time.Time // injected by tests

	mu   sync.Mutex
	due  map[topicPartition]int64
	last time.Time // of the last purge sent; zero before the first
}

func newPurger(conf *PurgeConfig) *purger {
	if conf == nil {
		return nil
	}
	return &purger{interval: conf.Interval, now: time.Now, due: map[topicPartition]int64{}}
}

// committed records offsets the group has committed (stable: a transaction
// that committed, or a plain commit the broker accepted).
func (p *purger) committed(offs map[topicPartition]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tp, o := range offs {
		if o > p.due[tp] {
			p.due[tp] = o
		}
	}
}

// forget drops a partition that is no longer ours: its next owner purges it.
func (p *purger) forget(tp topicPartition) {
	p.mu.Lock()
	delete(p.due, tp)
	p.mu.Unlock()
}

// take returns the committed offsets not purged yet if the interval has
// passed since the last purge (nil otherwise), and starts a new interval.
func (p *purger) take() map[topicPartition]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if len(p.due) == 0 || (!p.last.IsZero() && now.Sub(p.last) < p.interval) {
		return nil
	}
	due := p.due
	p.due, p.last = map[topicPartition]int64{}, now
	return due
}

// purgeCommitted records offs as committed and, at most once per interval,
// deletes the records below the committed offsets of the partitions this
// consumer still owns. Failures are logged and counted, never returned:
// the records stay until the next purge or retention.
func (c *Consumer) purgeCommitted(cl *kgo.Client, offs map[topicPartition]int64) {
	if c.purge == nil || cl == nil {
		return
	}
	c.purge.committed(offs)
	due := c.purge.take()
	// Only partitions still ours: a revoked one's records below our
	// commit are its new owner's to purge once it commits past them.
	todo := kadm.Offsets{}
	c.mu.Lock()
	for tp, o := range due {
		if c.assigned[tp] {
			todo.Add(kadm.Offset{Topic: tp.topic, Partition: tp.partition, At: o, LeaderEpoch: -1})
		}
	}
	c.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), purgeTimeout)
	defer cancel()
	resps, err := kadm.NewClient(cl).DeleteRecords(ctx, todo)
	pm, _ := c.met.(PurgeMetrics)
	todo.Each(func(o kadm.Offset) {
		// A failed shard (a broker down) leaves the others' answers.
		var perr error
		switch r, ok := resps.Lookup(o.Topic, o.Partition); {
		case ok:
			perr = r.Err
		case err != nil:
			perr = err
		default:
			perr = errNoPurgeAnswer
		}
		if perr != nil {
			c.log.Warnf("kafka: purging %s/%d below committed offset %d failed (the records stay until the next purge or retention.ms): %v", o.Topic, o.Partition, o.At, perr)
		}
		if pm != nil {
			pm.Purged(o.Topic, o.Partition, perr)
		}
	})
}

var errNoPurgeAnswer = errors.New("no answer for the partition in the DeleteRecords response")
