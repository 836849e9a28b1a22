package window

import (
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Rows from Kafka without kafka_topic_partitions or kafka_prev_offset (a
// kafka_franz input whose metadata_keys left them out) are reported: the
// per-partition rule cannot then be deterministic. Rows with both are not.
func TestRowsFromKafkaWithoutPartitionCountOrPrevOffsetAreReported(t *testing.T) {
	p := build(t, ridesYAML, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
	complete := msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)
	complete.MetaSetMut(partitionsMeta, 1)
	complete.MetaSetMut(prevOffsetMeta, -1)
	run(t, p, service.MessageBatch{complete})
	for i, key := range []string{partitionsMeta, prevOffsetMeta} {
		if !p.missingLogs[i].LoggedAt().IsZero() {
			t.Fatalf("%s reported missing on a record that has it", key)
		}
	}
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:02:00Z", 1, 1, 0, 1)})
	for i, key := range []string{partitionsMeta, prevOffsetMeta} {
		if p.missingLogs[i].LoggedAt().IsZero() {
			t.Errorf("a record without %s was not reported", key)
		}
	}
}
