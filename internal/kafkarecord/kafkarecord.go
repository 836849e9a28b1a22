// Package kafkarecord carries, in a message's context, the Kafka record it was
// built from, so that rides-connect components read the record's coordinates
// (topic, partition, offset, the input's assignment facts) without the input
// setting a metadata map on every message. That map is a third of the bytes a
// backlog drain allocates (kafka_franz set_metadata: false,
// docs/benchmarks.md "Sixteenth round").
package kafkarecord

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Source answers for the records of one fetched chunk what the input's
// metadata says of them (the same keys, the same rules: a key the input does
// not set answers false).
type Source interface {
	// Position is record i's topic, partition and offset, whatever the
	// input's metadata_keys.
	Position(i int) (topic string, partition int32, offset int64)
	// Int reads an integer key (kafka_partition, kafka_offset, ...) of record i.
	Int(i int, key string) (int64, bool)
	// String reads a string key (kafka_topic, kafka_assignment_commit, ...).
	String(i int, key string) (string, bool)
	// EmptyPartitions reads kafka_empty_partitions (nil when not set).
	EmptyPartitions() []int32
	// SetMetadata sets on msg every metadata key the input sets on record
	// i's message when it sets metadata. Safe from any goroutine.
	SetMetadata(msg *service.Message, i int)
	// Live says whether the records' partition is still assigned to the
	// input in the epoch it read them in: once revoked or lost, they are
	// read again (by its next owner, or by this input in a new epoch), and
	// their ack does nothing. Safe from any goroutine.
	Live() bool
}

// Record is one record of a Source.
type Record struct {
	src Source
	i   int
}

// Position is the record's topic, partition and offset.
func (r Record) Position() (string, int32, int64) { return r.src.Position(r.i) }

// Int reads an integer key of the record.
func (r Record) Int(key string) (int64, bool) { return r.src.Int(r.i, key) }

// String reads a string key of the record.
func (r Record) String(key string) (string, bool) { return r.src.String(r.i, key) }

// EmptyPartitions reads kafka_empty_partitions.
func (r Record) EmptyPartitions() []int32 { return r.src.EmptyPartitions() }

// Live says whether the record's partition is still assigned in the epoch
// it was read in (Source.Live).
func (r Record) Live() bool { return r.src.Live() }

// SameSource says whether o comes from the same Source (fetched chunk) as r.
func (r Record) SameSource(o Record) bool { return r.src == o.src }

// SetMetadata sets the record's metadata on msg.
func (r Record) SetMetadata(msg *service.Message) { r.src.SetMetadata(msg, r.i) }

type ctxKey struct{}

// Carrier is a message context holding a Record: one per record of a chunk,
// allocated together (Carriers), so a message costs no context allocation.
type Carrier struct {
	context.Context
	rec Record
}

// Value answers the carrier's key, and nothing else: its parent is
// context.Background (Carriers), which holds no value. Every message's
// context lookups (Benthos' tracer looks for a span twice per processor)
// end here.
func (c *Carrier) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return &c.rec
	}
	return nil
}

// Carriers makes the carriers of a chunk's n records.
func Carriers(src Source, n int) []Carrier {
	cs := make([]Carrier, n)
	for i := range cs {
		cs[i] = Carrier{Context: context.Background(), rec: Record{src, i}}
	}
	return cs
}

// Attach returns msg carrying the carrier's record.
func (c *Carrier) Attach(msg *service.Message) *service.Message { return msg.WithContext(c) }

// Of returns the record msg was built from, if an input attached one.
func Of(msg *service.Message) (Record, bool) {
	r, ok := msg.Context().Value(ctxKey{}).(*Record)
	if !ok {
		return Record{}, false
	}
	return *r, true
}
