package kafkafranz

import (
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/box"
	"github.com/miaradia/rides-connect/internal/kafkarecord"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// metaOptions are the input settings that shape message metadata.
type metaOptions struct {
	multiHeader bool // headers as lists of strings (multi_header)
	lag         bool // set kafka_lag (consumer group mode, as Redpanda Connect)
	// omit are the fixed keys not to set (those metadata_keys leaves out;
	// none by default). Up to 8 keys a message's metadata stays one small Go
	// map; a 9th grows it into a table, which more than doubles this
	// function's cost (docs/benchmarks.md).
	omit metaKey
	// none: set no metadata on record messages (set_metadata: false); their
	// kafkarecord carriers answer instead.
	none bool
	// box boxes the per-record values (offsets, key, headers) from shared
	// arrays instead of one allocation each; nil boxes them the Go way.
	// Only the reader goroutine uses it.
	box *box.Slab
}

func (o metaOptions) int(v int) any {
	if o.box == nil {
		return v
	}
	return o.box.Int(v)
}

func (o metaOptions) int64(v int64) any {
	if o.box == nil {
		return v
	}
	return o.box.Int64(v)
}

func (o metaOptions) string(b []byte) any {
	if o.box == nil {
		return string(b)
	}
	return o.box.String(b)
}

// partitionMeta holds the metadata values shared by every record of one
// fetched chunk, boxed once per chunk instead of once per record.
type partitionMeta struct {
	topic, partition any
	topicPartitions  any         // nil when unknown
	empty            any         // franz.Chunk.Empty as []any of int, nil when none
	epoch            any         // franz.Chunk.Epoch, boxed once
	start            any         // franz.Chunk.Start, boxed once
	commit           any         // franz.Chunk.Commit
	generation       any         // franz.Chunk.Generation, nil without a group
	ch               franz.Chunk // the chunk: its records and their typed facts
	// carriers are the records' kafkarecord contexts (set_metadata: false
	// only).
	carriers []kafkarecord.Carrier
	metaOptions
}

func newPartitionMeta(ch franz.Chunk, opts metaOptions) partitionMeta {
	pm := partitionMeta{topic: ch.Topic, partition: int(ch.Partition),
		epoch: int(ch.Epoch), start: int(ch.Start), commit: ch.Commit, ch: ch, metaOptions: opts}
	if ch.TopicPartitions > 0 {
		pm.topicPartitions = int(ch.TopicPartitions)
	}
	if ch.Generation >= 0 {
		pm.generation = int(ch.Generation)
	}
	if len(ch.Empty) > 0 {
		empty := make([]any, len(ch.Empty))
		for i, p := range ch.Empty {
			empty[i] = int(p)
		}
		pm.empty = empty
	}
	return pm
}

// recordToMessage builds a message for the i-th record of pm's chunk, with
// its metadata (setMetadata) or, with set_metadata: false, its kafkarecord
// carrier instead.
func recordToMessage(pm *partitionMeta, i int) *service.Message {
	msg := service.NewMessage(pm.ch.Records[i].Value)
	if pm.carriers != nil {
		msg = pm.carriers[i].Attach(msg)
	}
	if !pm.none {
		pm.setMetadata(msg, i, pm.metaOptions)
	}
	return msg
}

// prevOffset is the offset of the record this input delivered before record
// i from the same partition (-1: none since assignment).
func (pm *partitionMeta) prevOffset(i int) int64 {
	if i > 0 {
		return pm.ch.Records[i-1].Offset
	}
	return pm.ch.Prev
}

// setMetadata sets record i's metadata on msg: Redpanda Connect's V0
// metadata: kafka_key as a string, numbers as ints, headers as strings (or
// lists of strings with multi_header), kafka_lag in a consumer group; plus
// kafka_prev_offset and kafka_topic_partitions. With metadata_keys only the
// listed keys (and kafka_topic, kafka_partition and the headers, always).
// opts boxes the values (its slab only on the reader goroutine).
func (pm *partitionMeta) setMetadata(msg *service.Message, i int, opts metaOptions) {
	r := pm.ch.Records[i]
	keys := ^pm.omit
	if keys.has(metaKafkaKey) {
		msg.MetaSetMut("kafka_key", opts.string(r.Key))
	}
	msg.MetaSetMut("kafka_topic", pm.topic)
	msg.MetaSetMut("kafka_partition", pm.partition)
	if pm.topicPartitions != nil && keys.has(metaKafkaTopicPartitions) {
		// Not in Redpanda Connect: lets tumbling_window wait for partitions
		// that have not delivered yet.
		msg.MetaSetMut("kafka_topic_partitions", pm.topicPartitions)
	}
	if pm.empty != nil && keys.has(metaKafkaEmptyPartitions) {
		// Not in Redpanda Connect: partitions of the topic that have nothing
		// to read yet, so tumbling_window does not wait for them (set only
		// while there are some).
		msg.MetaSetMut("kafka_empty_partitions", pm.empty)
	}
	if keys.has(metaKafkaOffset) {
		msg.MetaSetMut("kafka_offset", opts.int(int(r.Offset)))
	}
	if keys.has(metaKafkaPrevOffset) {
		// Not in Redpanda Connect: the offset of the record this input
		// delivered before this one from the same partition (-1: none since
		// assignment), so tumbling_window can keep offset order across
		// pipeline threads.
		msg.MetaSetMut("kafka_prev_offset", opts.int(int(pm.prevOffset(i))))
	}
	setAssignmentMeta(msg, pm, keys)
	if keys.has(metaKafkaTimestampUnix) {
		msg.MetaSetMut("kafka_timestamp_unix", opts.int64(r.Timestamp.Unix()))
	}
	if keys.has(metaKafkaTimestampMs) {
		msg.MetaSetMut("kafka_timestamp_ms", opts.int64(r.Timestamp.UnixMilli()))
	}
	if keys.has(metaKafkaTombstone) {
		msg.MetaSetMut("kafka_tombstone_message", r.Value == nil)
	}
	if pm.lag && keys.has(metaKafkaLag) {
		// Records after this one in the partition when it was fetched.
		msg.MetaSetMut("kafka_lag", opts.int64(pm.lagOf(i)))
	}
	setHeaders(msg, r.Headers, pm.multiHeader, opts)
}

// setHeaders sets a record's headers as metadata: strings, or lists of
// strings with multi_header. A header named like one of the input's own keys
// (kafka_offset, kafka_key, kafka_notice, ...) is left out, whether or not
// metadata_keys sets that key: it would pose as the input's value, and the
// dead letter's key, source and idempotency, the window's coordinates and a
// notice rely on those (Redpanda Connect lets the header win).
func setHeaders(msg *service.Message, hs []kgo.RecordHeader, multi bool, opts metaOptions) {
	if !multi {
		for _, h := range hs {
			if !reservedKey(h.Key) {
				msg.MetaSetMut(h.Key, opts.string(h.Value))
			}
		}
		return
	}
	var lists map[string][]any
	for _, h := range hs {
		if reservedKey(h.Key) {
			continue
		}
		if lists == nil {
			lists = make(map[string][]any, len(hs))
		}
		lists[h.Key] = append(lists[h.Key], string(h.Value))
	}
	for k, vs := range lists {
		msg.MetaSetMut(k, vs)
	}
}

func (pm *partitionMeta) lagOf(i int) int64 {
	return max(pm.ch.HighWatermark-pm.ch.Records[i].Offset-1, 0)
}

func timeFromMillis(ms int64) time.Time { return time.UnixMilli(ms) }

// setAssignmentMeta sets the keys of pm's assignment that keys asks for, on a
// record's message and on a notice. None is in Redpanda Connect.
func setAssignmentMeta(msg *service.Message, pm *partitionMeta, keys metaKey) {
	if keys.has(metaKafkaAssignmentEpoch) {
		// Changes when this process is (re)assigned the partition or rewinds
		// it (transaction abort), so a stage keeping per-partition state
		// knows to reload it.
		msg.MetaSetMut("kafka_assignment_epoch", pm.epoch)
	}
	if keys.has(metaKafkaAssignmentOffset) {
		// The committed offset this epoch resumed from (-1: none), so a stage
		// reading the partition's state back knows which position that state
		// must have reached.
		msg.MetaSetMut("kafka_assignment_offset", pm.start)
	}
	if keys.has(metaKafkaAssignmentCommit) {
		// What that committed offset was: none, start (only latest's start
		// pin) or progress, so a stage whose state is durable before every
		// commit knows a state that is missing after progress was lost.
		msg.MetaSetMut("kafka_assignment_commit", pm.commit)
	}
	if pm.generation != nil && keys.has(metaKafkaGroupGeneration) {
		// The group generation at which this consumer was assigned the
		// partition, a fencing token that grows from one owner to the next
		// (delta_lake idempotency.fence_token).
		msg.MetaSetMut("kafka_group_generation", pm.generation)
	}
}
