package kafkafranz

import (
	"fmt"
	"strings"
)

// metaKey is one of the fixed metadata keys the input can set per record.
type metaKey uint16

const (
	metaKafkaKey metaKey = 1 << iota
	metaKafkaOffset
	metaKafkaPrevOffset
	metaKafkaTopicPartitions
	metaKafkaTimestampUnix
	metaKafkaTimestampMs
	metaKafkaTombstone
	metaKafkaLag
	metaKafkaAssignmentEpoch
	metaKafkaGroupGeneration
	metaKafkaAssignmentOffset
	metaKafkaEmptyPartitions
	metaKafkaAssignmentCommit

	metaAllKeys = 1<<iota - 1
)

// metaKeyNames are the keys metadata_keys may list, in the order the docs
// give them. kafka_topic and kafka_partition are not among them: they are
// always set (the input drops records of revoked partitions by them).
var metaKeyNames = []struct {
	name string
	key  metaKey
}{
	{"kafka_key", metaKafkaKey},
	{"kafka_offset", metaKafkaOffset},
	{"kafka_prev_offset", metaKafkaPrevOffset},
	{"kafka_topic_partitions", metaKafkaTopicPartitions},
	{"kafka_timestamp_unix", metaKafkaTimestampUnix},
	{"kafka_timestamp_ms", metaKafkaTimestampMs},
	{"kafka_tombstone_message", metaKafkaTombstone},
	{"kafka_lag", metaKafkaLag},
	{"kafka_assignment_epoch", metaKafkaAssignmentEpoch},
	{"kafka_group_generation", metaKafkaGroupGeneration},
	{"kafka_assignment_offset", metaKafkaAssignmentOffset},
	{"kafka_empty_partitions", metaKafkaEmptyPartitions},
	{"kafka_assignment_commit", metaKafkaAssignmentCommit},
}

// metaKeysOmitted reads metadata_keys into the keys to leave out: an empty
// list (the field unset) means every key is set.
func metaKeysOmitted(names []string) (metaKey, error) {
	if len(names) == 0 {
		return 0, nil
	}
	var keys metaKey
next:
	for _, n := range names {
		if n == "kafka_topic" || n == "kafka_partition" {
			continue // always set
		}
		for _, k := range metaKeyNames {
			if k.name == n {
				keys |= k.key
				continue next
			}
		}
		valid := []string{"kafka_topic", "kafka_partition"}
		for _, k := range metaKeyNames {
			valid = append(valid, k.name)
		}
		return 0, fmt.Errorf("%s: unknown key %q: use any of %s", fieldMetadataKeys, n, strings.Join(valid, ", "))
	}
	return metaAllKeys &^ keys, nil
}

func (k metaKey) has(key metaKey) bool { return k&key != 0 }

// reservedKey reports whether a metadata key is one the input sets itself
// (a record header of that name is not set, setHeaders).
func reservedKey(k string) bool {
	if k == "kafka_topic" || k == "kafka_partition" || k == metaNotice {
		return true
	}
	for _, n := range metaKeyNames {
		if n.name == k {
			return true
		}
	}
	return false
}
