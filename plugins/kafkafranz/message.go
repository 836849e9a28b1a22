package kafkafranz

import (
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"
)

// metaOptions are the input settings that shape message metadata.
type metaOptions struct {
	multiHeader bool // headers as lists of strings (multi_header)
	lag         bool // set kafka_lag (consumer group mode, as Redpanda Connect)
}

// partitionMeta holds the metadata values shared by every record of one
// fetched chunk, boxed once per chunk instead of once per record.
type partitionMeta struct {
	topic, partition any
	highWatermark    int64
	metaOptions
}

func newPartitionMeta(topic string, partition int32, highWatermark int64, opts metaOptions) partitionMeta {
	return partitionMeta{topic: topic, partition: int(partition), highWatermark: highWatermark, metaOptions: opts}
}

// recordToMessage builds a message with Redpanda Connect's V0 metadata:
// kafka_key as a string, numbers as ints, headers as strings (or lists of
// strings with multi_header), kafka_lag in a consumer group.
func recordToMessage(r *kgo.Record, pm partitionMeta) *service.Message {
	msg := service.NewMessage(r.Value)
	msg.MetaSetMut("kafka_key", string(r.Key))
	msg.MetaSetMut("kafka_topic", pm.topic)
	msg.MetaSetMut("kafka_partition", pm.partition)
	msg.MetaSetMut("kafka_offset", int(r.Offset))
	msg.MetaSetMut("kafka_timestamp_unix", r.Timestamp.Unix())
	msg.MetaSetMut("kafka_timestamp_ms", r.Timestamp.UnixMilli())
	msg.MetaSetMut("kafka_tombstone_message", r.Value == nil)
	if pm.lag {
		// Records after this one in the partition when it was fetched.
		msg.MetaSetMut("kafka_lag", max(pm.highWatermark-r.Offset-1, 0))
	}
	if !pm.multiHeader {
		for _, h := range r.Headers {
			msg.MetaSetMut(h.Key, string(h.Value))
		}
		return msg
	}
	var lists map[string][]any
	for _, h := range r.Headers {
		if lists == nil {
			lists = make(map[string][]any, len(r.Headers))
		}
		lists[h.Key] = append(lists[h.Key], string(h.Value))
	}
	for k, vs := range lists {
		msg.MetaSetMut(k, vs)
	}
	return msg
}

func timeFromMillis(ms int64) time.Time { return time.UnixMilli(ms) }
