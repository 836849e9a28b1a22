package kafkafranz

import (
	"context"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// msgBatcher is what a partitionBatcher needs of a batching policy;
// *service.Batcher is one.
type msgBatcher interface {
	Add(*service.Message) bool
	Flush(context.Context) (service.MessageBatch, error)
	UntilNext() (time.Duration, bool)
	Close(context.Context) error
}

var (
	_ msgBatcher = (*service.Batcher)(nil)
	_ msgBatcher = (*countBatcher)(nil)
)

// countBatcher applies a policy of count, byte_size and period alone with
// Benthos' rules (internal/batch/policy): Add reports a flush once count or
// byte_size is reached or period has passed since the last flush; the
// period is timed from creation and from each flush. Benthos' batcher keeps
// the parts of its messages and wraps each in a new *service.Message at
// Flush, regrowing both slices for every batch: per record one allocation
// and ~50 bytes this one does not make (docs/benchmarks.md, "Eighth round").
// A policy with a check or processors keeps Benthos' batcher.
//
// One difference: Add reads the clock for the period only every
// periodStride messages (Benthos reads it for every message, 1.3 % of the
// rides job's CPU in a profile), so a batch whose period ends while records
// keep coming is flushed up to periodStride-1 messages later. Where a
// period closes a batch its size depends on timing anyway; when no records
// come the reader's timer flushes it (reader.nextFlush).
type countBatcher struct {
	count, byteSize int
	period          time.Duration
	now             func() time.Time
	created         *batchCreated

	msgs      service.MessageBatch
	size      int
	triggered bool
	last      time.Time
}

// batchCreated counts batches by what closed them, as Benthos' batcher does
// (metric batch_created, label mechanism).
type batchCreated struct {
	c *service.MetricCounter
}

func newBatchCreated(m *service.Metrics) *batchCreated {
	return &batchCreated{c: m.NewCounter("batch_created", "mechanism")}
}

func (b *batchCreated) incr(mechanism string) {
	if b != nil {
		b.c.Incr(1, mechanism)
	}
}

// simplePolicy reports whether p can be applied by a countBatcher.
func simplePolicy(p service.BatchPolicy, procs bool) bool {
	return p.Check == "" && !procs && (p.Count > 0 || p.ByteSize > 0 || p.Period != "")
}

func newCountBatcher(p service.BatchPolicy, created *batchCreated, now func() time.Time) (*countBatcher, error) {
	b := &countBatcher{count: p.Count, byteSize: p.ByteSize, now: now, created: created}
	if p.Period != "" {
		d, err := time.ParseDuration(p.Period)
		if err != nil {
			return nil, err
		}
		b.period = d
	}
	b.last = now()
	return b, nil
}

// maxPresize bounds the batch slice allocated up front for count.
const maxPresize = 1 << 16

func (b *countBatcher) Add(m *service.Message) bool {
	if b.byteSize > 0 {
		raw, _ := m.AsBytes()
		b.size += len(raw)
	}
	if b.msgs == nil && b.count > 0 {
		b.msgs = make(service.MessageBatch, 0, min(b.count, maxPresize))
	}
	b.msgs = append(b.msgs, m)
	if !b.triggered && b.count > 0 && len(b.msgs) >= b.count {
		b.triggered = true
		b.created.incr("count")
	}
	if !b.triggered && b.byteSize > 0 && b.size >= b.byteSize {
		b.triggered = true
		b.created.incr("size")
	}
	return b.triggered || (b.period > 0 && len(b.msgs)%periodStride == 0 && b.now().Sub(b.last) > b.period)
}

// periodStride is how many messages Add takes per reading of the clock.
const periodStride = 16

func (b *countBatcher) Flush(context.Context) (service.MessageBatch, error) {
	batch := b.msgs
	if len(batch) > 0 && !b.triggered && b.period > 0 && b.now().Sub(b.last) > b.period {
		b.created.incr("period")
	}
	b.msgs, b.size, b.triggered = nil, 0, false
	b.last = b.now()
	if len(batch) == 0 {
		return nil, nil
	}
	return batch, nil
}

func (b *countBatcher) UntilNext() (time.Duration, bool) {
	if b.period <= 0 {
		return 0, false
	}
	// Benthos never reports less than 1ns while a period is set.
	return max(b.last.Add(b.period).Sub(b.now()), 1), true
}

func (b *countBatcher) Close(context.Context) error { return nil }
