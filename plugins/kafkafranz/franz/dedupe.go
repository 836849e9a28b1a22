package franz

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/ownership"
)

// SourceKey is where a record written by the output came from: the input
// record's topic, partition and offset. Its text form is topic/partition/offset
// (Kafka topic names cannot hold '/').
type SourceKey struct {
	Topic     string
	Partition int32
	Offset    int64
}

// ParseSourceKey reads topic/partition/offset.
func ParseSourceKey(s string) (SourceKey, error) {
	rest, off, ok1 := cutLast(s)
	topic, part, ok2 := cutLast(rest)
	if !ok1 || !ok2 || topic == "" {
		return SourceKey{}, fmt.Errorf("%q is not topic/partition/offset", s)
	}
	p, err1 := strconv.ParseInt(part, 10, 32)
	o, err2 := strconv.ParseInt(off, 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return SourceKey{}, fmt.Errorf("%q is not topic/partition/offset", s)
	}
	return SourceKey{Topic: topic, Partition: int32(p), Offset: o}, nil
}

func cutLast(s string) (string, string, bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// DedupeConfig configures Dedupe.
type DedupeConfig struct {
	Client ClientConfig
	// Group is the consumer group whose input records the output writes:
	// only keys at or after its committed offsets can be sent again.
	Group string
	// Header carries the SourceKey on every written record.
	Header string
	// GroupHeader carries Group on every written record: only records of
	// this group count as written. Another job (another group) writing its
	// dead letters of the same source records to the same topic must not
	// make this one skip its own.
	GroupHeader string
}

// Dedupe makes a producer write each source record at most once to a topic,
// across crashes: before the first write to a topic (and again after any
// failed write, whose records may or may not have landed) it reads the topic
// to its end and remembers the source keys at or after the group's committed
// offsets. A message whose key is remembered is not sent again.
//
// Why that suffices (docs/faults.md): the input redelivers only records at or
// after the committed offsets; a record below them was acknowledged, so its
// write finished. Offsets only move forward, and they move past a record only
// after this output handled it, so keys dropped from memory can never come
// back. Holds for one consumer per partition over the process life (a
// rebalance that moves a partition to another live process is not covered).
type Dedupe struct {
	conf DedupeConfig
	log  Logger

	mu      sync.Mutex
	seen    map[SourceKey]struct{}
	scanned map[string]bool // topics read to their end since the last failure
	pruneAt int
	// owners is the process's partition ownership; changed, taken before
	// the last scan, is closed once it moved since. A partition this process
	// gained may come from a process that crashed after writing some of its
	// records: the keys it wrote after our scan are not in seen, so every
	// topic is read again before the next write (red team, 4 Dec:
	// config/bronze.yaml as two replicas, one SIGKILLed 5 times, 21 of 578
	// dead letters written twice before).
	owners  *ownership.Record
	changed <-chan struct{}
}

// NewDedupe returns a Dedupe; it connects on first use.
func NewDedupe(conf DedupeConfig, log Logger) *Dedupe {
	return &Dedupe{conf: conf, log: log, seen: map[SourceKey]struct{}{}, scanned: map[string]bool{}, pruneAt: 4096,
		owners: ownership.Process}
}

// Prepare reads each topic not yet scanned, or every topic again if the
// process's partitions changed since the last scan. Call it before Seen for
// a batch.
func (d *Dedupe) Prepare(ctx context.Context, topics []string) error {
	d.mu.Lock()
	if d.changed != nil {
		select {
		case <-d.changed:
			clear(d.scanned)
			d.changed = nil
		default:
		}
	}
	var todo []string
	for _, t := range topics {
		if !d.scanned[t] {
			todo = append(todo, t)
		}
	}
	d.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	return d.scan(ctx, todo)
}

// Seen reports whether key is already in the target topic.
func (d *Dedupe) Seen(k SourceKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[k]
	return ok
}

// Written records keys the brokers acknowledged.
func (d *Dedupe) Written(keys []SourceKey) {
	d.mu.Lock()
	for _, k := range keys {
		d.seen[k] = struct{}{}
	}
	full := len(d.seen) > d.pruneAt
	d.mu.Unlock()
	if full {
		d.prune()
	}
}

// Failed marks a topic for a new scan: a failed write may have landed.
func (d *Dedupe) Failed(topic string) {
	d.mu.Lock()
	d.scanned[topic] = false
	d.mu.Unlock()
}

func (d *Dedupe) client() (*kgo.Client, error) {
	opts, err := d.conf.Client.Options(d.log)
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(opts...)
}

func (d *Dedupe) committed(ctx context.Context, adm *kadm.Client) (kadm.OffsetResponses, error) {
	resp, err := adm.FetchOffsets(ctx, d.conf.Group)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return kadm.OffsetResponses{}, nil // nothing committed yet: keep every key
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency: committed offsets of group %s: %w", d.conf.Group, err)
	}
	return resp, nil
}

// keep: a key below the group's committed offset is never sent again.
func keep(c kadm.OffsetResponses, k SourceKey) bool {
	o, ok := c.Lookup(k.Topic, k.Partition)
	return !ok || o.At < 0 || k.Offset >= o.At
}

func (d *Dedupe) scan(ctx context.Context, topics []string) error {
	start := time.Now()
	changed := d.owners.Changed() // before the read: a move during it is seen next time
	cl, err := d.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The committed offsets first: a key the scan finds must be kept unless
	// it is below offsets committed before the scan started.
	c, err := d.committed(ctx, adm)
	if err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("idempotency: end offsets of %v: %w", topics, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("idempotency: start offsets of %v: %w", topics, err)
	}
	want := map[string]map[int32]kgo.Offset{}
	left := map[string]map[int32]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		s, _ := starts.Lookup(e.Topic, e.Partition)
		if e.Offset <= s.Offset {
			return
		}
		if want[e.Topic] == nil {
			want[e.Topic], left[e.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		want[e.Topic][e.Partition] = kgo.NewOffset().At(s.Offset)
		left[e.Topic][e.Partition] = e.Offset
	})
	found, read := map[SourceKey]struct{}{}, 0
	if len(want) > 0 {
		cl.AddConsumePartitions(want)
		for len(left) > 0 {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("idempotency: reading %v: %w", topics, err)
			}
			var ferr error
			fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("idempotency: reading %s/%d: %w", t, p, err) })
			if ferr != nil {
				return ferr
			}
			fs.EachRecord(func(r *kgo.Record) {
				read++
				if k, ok := d.keyOf(r); ok && keep(c, k) {
					found[k] = struct{}{}
				}
				if end, ok := left[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
					delete(left[r.Topic], r.Partition)
					if len(left[r.Topic]) == 0 {
						delete(left, r.Topic)
					}
				}
			})
		}
	}
	d.mu.Lock()
	for k := range found {
		d.seen[k] = struct{}{}
	}
	for _, t := range topics {
		d.scanned[t] = true
	}
	if d.changed == nil || !isClosed(d.changed) { // a move before this scan still rescans the other topics
		d.changed = changed
	}
	d.mu.Unlock()
	if d.log != nil {
		d.log.Infof("idempotency: read %d records of %v in %v: %d source keys at or after group %s's committed offsets are already written",
			read, topics, time.Since(start).Round(time.Millisecond), len(found), d.conf.Group)
	}
	return nil
}

// keyOf is the source key of a record this group wrote: one carrying both
// headers, with this group's name. A record of another group, or of a
// version that wrote no group header, is not this job's (each group's
// dead letters are its own; counting another's would drop this one's).
func (d *Dedupe) keyOf(r *kgo.Record) (SourceKey, bool) {
	var key, group string
	var hasKey, hasGroup bool
	for _, h := range r.Headers {
		switch h.Key {
		case d.conf.Header:
			key, hasKey = string(h.Value), true
		case d.conf.GroupHeader:
			group, hasGroup = string(h.Value), true
		}
	}
	if !hasKey || !hasGroup || group != d.conf.Group {
		return SourceKey{}, false
	}
	k, err := ParseSourceKey(key)
	return k, err == nil
}

// prune forgets keys below the committed offsets, bounding memory by the
// records in flight. A failure only postpones it.
func (d *Dedupe) prune() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := d.client()
	if err != nil {
		return
	}
	defer cl.Close()
	c, err := d.committed(ctx, kadm.NewClient(cl))
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for k := range d.seen {
		if !keep(c, k) {
			delete(d.seen, k)
		}
	}
	d.pruneAt = max(4096, 2*len(d.seen))
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
