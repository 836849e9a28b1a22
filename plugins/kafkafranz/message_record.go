package kafkafranz

import (
	"github.com/redpanda-data/benthos/v4/public/service"
)

// partitionMeta is its records' kafkarecord.Source: the window and the
// kafka_metadata processor read a record's coordinates from it, by the same
// keys and rules as its metadata would (a key metadata_keys leaves out
// answers false).

// Position is record i's topic, partition and offset.
func (pm *partitionMeta) Position(i int) (string, int32, int64) {
	return pm.ch.Topic, pm.ch.Partition, pm.ch.Records[i].Offset
}

// Int reads an integer metadata key of record i.
func (pm *partitionMeta) Int(i int, key string) (int64, bool) {
	keys := ^pm.omit
	switch key {
	case "kafka_partition":
		return int64(pm.ch.Partition), true
	case "kafka_offset":
		return pm.ch.Records[i].Offset, keys.has(metaKafkaOffset)
	case "kafka_prev_offset":
		return pm.prevOffset(i), keys.has(metaKafkaPrevOffset)
	case "kafka_topic_partitions":
		return int64(pm.ch.TopicPartitions), pm.ch.TopicPartitions > 0 && keys.has(metaKafkaTopicPartitions)
	case "kafka_assignment_epoch":
		return pm.ch.Epoch, keys.has(metaKafkaAssignmentEpoch)
	case "kafka_assignment_offset":
		return pm.ch.Start, keys.has(metaKafkaAssignmentOffset)
	case "kafka_group_generation":
		return int64(pm.ch.Generation), pm.ch.Generation >= 0 && keys.has(metaKafkaGroupGeneration)
	case "kafka_timestamp_unix":
		return pm.ch.Records[i].Timestamp.Unix(), keys.has(metaKafkaTimestampUnix)
	case "kafka_timestamp_ms":
		return pm.ch.Records[i].Timestamp.UnixMilli(), keys.has(metaKafkaTimestampMs)
	case "kafka_lag":
		return pm.lagOf(i), pm.lag && keys.has(metaKafkaLag)
	}
	return 0, false
}

// String reads a string metadata key of record i.
func (pm *partitionMeta) String(i int, key string) (string, bool) {
	switch key {
	case "kafka_topic":
		return pm.ch.Topic, true
	case "kafka_key":
		return string(pm.ch.Records[i].Key), (^pm.omit).has(metaKafkaKey)
	case "kafka_assignment_commit":
		return pm.ch.Commit, (^pm.omit).has(metaKafkaAssignmentCommit)
	}
	return "", false
}

// Live says whether the chunk's partition is still assigned in its epoch.
func (pm *partitionMeta) Live() bool { return pm.ch.Live() }

// EmptyPartitions reads kafka_empty_partitions.
func (pm *partitionMeta) EmptyPartitions() []int32 {
	if (^pm.omit).has(metaKafkaEmptyPartitions) {
		return pm.ch.Empty
	}
	return nil
}

// SetMetadata sets record i's metadata on msg as the input does with
// set_metadata: true, boxing the Go way (the reader's slab is not safe off its
// goroutine).
func (pm *partitionMeta) SetMetadata(msg *service.Message, i int) {
	opts := pm.metaOptions
	opts.box = nil
	pm.setMetadata(msg, i, opts)
}
