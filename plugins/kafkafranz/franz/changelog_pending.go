package franz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrChangelogPending is returned by Get for a key that has a record past
// its partition's last stable offset: a transaction is still open there,
// and the key's newest committed value may lie behind it.
//
// Why it matters: a replica killed with its transaction open leaves it open
// until the broker's transaction timeout (or until the same transactional
// id starts again), and read_committed readers stop at its first record.
// The next owner of the key's partition commits newer values behind it; a
// third owner within the timeout would read the value from before the
// killed replica's transaction, older than the offsets it resumes from
// (docs/scale-out.md, "Changelog read-back"). Callers retry: the
// transaction ends within its timeout. The records of the key past the
// last stable offset may also be the caller's own open transaction's (a
// partition lost and regained within one transaction, which then aborts):
// the wait then lasts until the broker aborts it.
var ErrChangelogPending = errors.New("a newer value of the key may be committed behind a transaction still open on its partition")

// PendingError is ErrChangelogPending with where the key's record past the
// last stable offset is, and the value Get would otherwise have returned:
// a caller that can tell that value is the one it needs (a state that has
// applied the offset it resumes from) takes it at once.
type PendingError struct {
	Key        string
	Partition  int32
	Offset     int64 // the key's first record past the last stable offset
	Stable     int64 // the partition's last stable offset
	ProducerID int64 // the producer of that record
	Value      []byte
	Found      bool // whether the key has a committed value (Value)
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("%v: key %q has a record at offset %d of partition %d, past its last stable offset %d (producer id %d; an open transaction ends within the broker's transaction timeout)",
		ErrChangelogPending, e.Key, e.Offset, e.Partition, e.Stable, e.ProducerID)
}

func (e *PendingError) Unwrap() error { return ErrChangelogPending }

// PendingValue returns the key's latest committed value as of the last
// stable offsets, and whether it has one.
func (e *PendingError) PendingValue() ([]byte, bool) { return e.Value, e.Found }

// pendingScanTimeout bounds one read of the records past the last stable
// offsets; a read that does not finish is an error the caller retries.
const pendingScanTimeout = 10 * time.Second

// checkNotPendingLocked returns a *PendingError when key has a record at or past its partition's
// last stable offset in stable. Only partitions whose end offset is past
// their last stable offset are read, read_uncommitted, from it to the end.
func (c *Changelog) checkNotPendingLocked(ctx context.Context, key string, stable map[int32]int64) error {
	ends, err := kadm.NewClient(c.cl).ListEndOffsets(ctx, c.topic)
	if err != nil {
		return c.conf.ConnectError(err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("changelog topic %s: %w", c.topic, err)
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if lso, ok := stable[o.Partition]; ok && o.Offset > lso {
			from[o.Partition] = kgo.NewOffset().At(lso)
			until[o.Partition] = o.Offset
		}
	})
	if len(from) == 0 {
		return nil
	}
	return c.scanOpenTail(ctx, key, from, until)
}

// scanOpenTail reads the given offset ranges read_uncommitted and fails
// with a *PendingError at the first record of key.
func (c *Changelog) scanOpenTail(ctx context.Context, key string, from map[int32]kgo.Offset, until map[int32]int64) error {
	opts, err := c.conf.Options(c.log)
	if err != nil {
		return err
	}
	// Control records are kept so a range ending in a commit or abort
	// marker is seen to its end.
	opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: from}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	sctx, cancel := context.WithTimeout(ctx, pendingScanTimeout)
	defer cancel()
	for len(until) > 0 {
		fs := cl.PollFetches(sctx)
		if err := sctx.Err(); err != nil {
			return fmt.Errorf("changelog topic %s: reading past the last stable offsets: %w", c.topic, err)
		}
		var found *kgo.Record
		fs.EachError(func(t string, p int32, err error) {
			c.log.Warnf("kafka: changelog %s partition %d (past its last stable offset): %v", t, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := until[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if found == nil && !r.Attrs.IsControl() && string(r.Key) == key {
				found = r
			}
			if r.Offset+1 >= end {
				delete(until, r.Partition)
			}
		})
		if found != nil {
			v, ok := c.values[key]
			return &PendingError{Key: key, Partition: found.Partition, Offset: found.Offset,
				Stable: from[found.Partition].EpochOffset().Offset, ProducerID: found.ProducerID, Value: v, Found: ok}
		}
	}
	return nil
}
