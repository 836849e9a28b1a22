package kafkafranz

import (
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"
)

// partitionMeta holds the metadata values shared by every record of one
// topic-partition, boxed once per chunk instead of once per record.
type partitionMeta struct {
	topic, partition any
}

func newPartitionMeta(topic string, partition int32) partitionMeta {
	return partitionMeta{topic: topic, partition: int(partition)}
}

// recordToMessage builds a message with Redpanda Connect's V0 metadata:
// kafka_key as a string, numbers as ints, headers as strings.
func recordToMessage(r *kgo.Record, pm partitionMeta) *service.Message {
	msg := service.NewMessage(r.Value)
	msg.MetaSetMut("kafka_key", string(r.Key))
	msg.MetaSetMut("kafka_topic", pm.topic)
	msg.MetaSetMut("kafka_partition", pm.partition)
	msg.MetaSetMut("kafka_offset", int(r.Offset))
	msg.MetaSetMut("kafka_timestamp_unix", r.Timestamp.Unix())
	msg.MetaSetMut("kafka_timestamp_ms", r.Timestamp.UnixMilli())
	msg.MetaSetMut("kafka_tombstone_message", r.Value == nil)
	for _, h := range r.Headers {
		msg.MetaSetMut(h.Key, string(h.Value))
	}
	return msg
}

func timeFromMillis(ms int64) time.Time { return time.UnixMilli(ms) }
