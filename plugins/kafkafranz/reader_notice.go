package kafkafranz

import (
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// Notice metadata (empty_partition_notices).
const (
	metaNotice      = "kafka_notice"
	noticeEmptyPart = "empty_partition"
	noticeCaughtUp  = "caught_up"
)

// takeNotices makes each empty-partition notice among chunks a batch of its
// own, ready at once (not batched: it would wait for a period, and no record
// of its partition can join it), and returns the other chunks. Its ack
// moves no offset; a notice of a partition revoked or rewound before it is
// handed out is dropped like a record would be (franz.Chunk.Live).
func (r *reader) takeNotices(chunks []franz.Chunk) []franz.Chunk {
	rest := chunks[:0]
	for _, ch := range chunks {
		if !ch.Notice {
			rest = append(rest, ch)
			continue
		}
		r.ready = append(r.ready, readyBatch{batch: service.MessageBatch{noticeMessage(ch, r.meta)}, ack: func() {}, chunks: []franz.Chunk{ch}})
	}
	return rest
}

// noticeMessage is a notice as a message: no body; kafka_notice,
// kafka_topic, kafka_partition, kafka_empty_partitions (not on a caught-up
// notice) and
// kafka_topic_partitions always (it is useless without them), the
// assignment's epoch, start and generation as metadata_keys says.
func noticeMessage(ch franz.Chunk, opts metaOptions) *service.Message {
	pm := newPartitionMeta(ch, metaOptions{})
	msg := service.NewMessage(nil)
	if ch.CaughtUp {
		msg.MetaSetMut(metaNotice, noticeCaughtUp)
	} else {
		msg.MetaSetMut(metaNotice, noticeEmptyPart)
		msg.MetaSetMut("kafka_empty_partitions", pm.empty)
	}
	msg.MetaSetMut("kafka_topic", pm.topic)
	msg.MetaSetMut("kafka_partition", pm.partition)
	if pm.topicPartitions != nil {
		msg.MetaSetMut("kafka_topic_partitions", pm.topicPartitions)
	}
	setAssignmentMeta(msg, &pm, ^opts.omit)
	return msg
}
