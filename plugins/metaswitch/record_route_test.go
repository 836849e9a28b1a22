package metaswitch

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
)

// topicRecords is a kafkarecord.Source whose records answer kafka_topic and
// kafka_partition (the keys a kafka_franz input with set_metadata: false
// answers from the record instead of metadata).
type topicRecords struct {
	topics     []string
	partitions []int64
}

func (s topicRecords) Position(i int) (string, int32, int64) {
	return s.topics[i], int32(s.partitions[i]), 0
}

func (s topicRecords) Int(i int, key string) (int64, bool) {
	if key == "kafka_partition" {
		return s.partitions[i], true
	}
	return 0, false
}

func (s topicRecords) String(i int, key string) (string, bool) {
	if key == "kafka_topic" {
		return s.topics[i], true
	}
	return "", false
}

func (topicRecords) EmptyPartitions() []int32                { return nil }
func (topicRecords) SetMetadata(msg *service.Message, i int) {}
func (topicRecords) Live() bool                              { return true }

// carried builds messages without metadata, each carrying its record.
func carried(src topicRecords, bodies ...string) service.MessageBatch {
	cs := kafkarecord.Carriers(src, len(bodies))
	batch := make(service.MessageBatch, len(bodies))
	for i, b := range bodies {
		batch[i] = cs[i].Attach(service.NewMessage([]byte(b)))
	}
	return batch
}

// A message of a set_metadata: false input has no metadata: it must take the
// case its record names, by a string key and by an integer key, and a
// metadata value set later still routes a message whose record lacks the key.
func TestMetadataSwitchRoutesByTheCarriedRecord(t *testing.T) {
	src := topicRecords{topics: []string{"rides", "internal", "rides", "dlq"}, partitions: []int64{0, 1, 2, 1}}
	got := run(t, twoCases, carried(src, "a", "b", "c", "d"))
	if want := "ride a of 2,ride c of 2,internal b,other d"; strings.Join(got, ",") != want {
		t.Fatalf("by kafka_topic: got %v, want %v", got, want)
	}
	got = run(t, `
metadata_switch:
  key: kafka_partition
  cases:
    - value: "1"
      processors:
        - mapping: 'root = "one " + content().string()'
`, carried(src, "a", "b", "c", "d"))
	if want := "a,c,one b,one d"; strings.Join(got, ",") != want {
		t.Fatalf("by kafka_partition: got %v, want %v", got, want)
	}
	withMeta := carried(src, "a", "b", "c", "d")
	withMeta[0].MetaSetMut("window_kind", "partial")
	got = run(t, `
metadata_switch:
  key: window_kind
  cases:
    - value: partial
      processors:
        - mapping: 'root = "partial " + content().string()'
`, withMeta)
	if want := "partial a,b,c,d"; strings.Join(got, ",") != want {
		t.Fatalf("a key the record lacks, from metadata: got %v, want %v", got, want)
	}
}
