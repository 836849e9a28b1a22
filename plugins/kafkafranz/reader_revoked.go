package kafkafranz

import (
	"strconv"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
)

// dropRevoked returns the batch without the records of partitions revoked
// since it was formed, counting them in kafka_input_revoked_dropped_total.
// A one-partition batch (partition scope) goes whole; a batch spanning
// partitions (poll scope) is filtered by the kafka_topic/kafka_partition
// metadata, and a message whose metadata a batch processor removed is kept
// (a possible duplicate rather than a possible loss).
func (r *reader) dropRevoked(rb readyBatch) service.MessageBatch {
	var dead map[partitionKey]bool
	single := true
	first := partitionKey{rb.chunks[0].Topic, rb.chunks[0].Partition}
	for _, ch := range rb.chunks {
		k := partitionKey{ch.Topic, ch.Partition}
		single = single && k == first
		if !ch.Live() {
			if dead == nil {
				dead = map[partitionKey]bool{}
			}
			dead[k] = true
		}
	}
	switch {
	case dead == nil:
		return rb.batch
	case single:
		r.met.revokedDropped(first.topic, first.partition, len(rb.batch))
		return nil
	}
	kept := make(service.MessageBatch, 0, len(rb.batch))
	dropped := map[partitionKey]int{}
	for _, m := range rb.batch {
		if k, ok := messagePartition(m); ok && dead[k] {
			dropped[k]++
			continue
		}
		kept = append(kept, m)
	}
	for k, n := range dropped {
		r.met.revokedDropped(k.topic, k.partition, n)
	}
	return kept
}

// dropRevokedSources is dropRevoked for a batch with sources (no batch
// processors): messages and sources are filtered together, by the chunk each
// message was built from.
func (r *reader) dropRevokedSources(rb readyBatch) (service.MessageBatch, []msgSource) {
	live := true
	for _, ch := range rb.chunks {
		live = live && ch.Live()
	}
	if live {
		return rb.batch, rb.srcs
	}
	batch, srcs := rb.batch[:0:0], rb.srcs[:0:0]
	dropped := map[partitionKey]int{}
	for i, s := range rb.srcs {
		if !s.ref.chunk.Live() {
			dropped[partitionKey{s.ref.chunk.Topic, s.ref.chunk.Partition}]++
			continue
		}
		batch, srcs = append(batch, rb.batch[i]), append(srcs, s)
	}
	for k, n := range dropped {
		r.met.revokedDropped(k.topic, k.partition, n)
	}
	return batch, srcs
}

// messagePartition reads the partition a message came from out of its
// record (kafkarecord) or its metadata.
func messagePartition(m *service.Message) (partitionKey, bool) {
	if r, ok := kafkarecord.Of(m); ok {
		topic, p, _ := r.Position()
		return partitionKey{topic, p}, true
	}
	topic, ok := m.MetaGet("kafka_topic")
	if !ok {
		return partitionKey{}, false
	}
	switch p := mustMeta(m, "kafka_partition").(type) {
	case int:
		return partitionKey{topic, int32(p)}, true
	case string:
		n, err := strconv.Atoi(p)
		return partitionKey{topic, int32(n)}, err == nil
	}
	return partitionKey{}, false
}

func mustMeta(m *service.Message, key string) any {
	v, _ := m.MetaGetMut(key)
	return v
}
