package kafkafranz

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// With set_metadata: true a record's headers are set when it is read, so a
// stage after the input (from_json's dlq_reason) overwrites a header of the
// same name. kafka_metadata runs last (first step of the dead-letter
// envelope): it must not let a producer's header replace what the pipeline
// set, or set_metadata: false changes the dead letter (reason, metric label).
// rt17: failed on main 9843c41 (the header won).
func TestKafkaMetadataDoesNotOverwriteWhatThePipelineSetWithAHeader(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	produceRecords(t, addr, []*kgo.Record{{Topic: "rides", Key: []byte("k"), Value: []byte("not json"),
		Headers: []kgo.RecordHeader{{Key: "dlq_reason", Value: []byte("forged")}}}})
	for _, c := range []struct{ name, extra string }{{"set_metadata true", ""}, {"set_metadata false", "  set_metadata: false\n"}} {
		t.Run(c.name, func(t *testing.T) {
			got := readAll(t, groupInput(addr, "g-order-"+c.name, c.extra), 1)
			m := got["0/0"]
			if m == nil {
				t.Fatalf("records %v", got)
			}
			m.MetaSetMut("dlq_reason", "bad_json") // what from_json sets on the rejected record
			if v, _ := throughKafkaMetadata(t, m).MetaGet("dlq_reason"); v != "bad_json" {
				t.Errorf("dlq_reason after kafka_metadata = %q, want bad_json (the pipeline's, as with set_metadata: true)", v)
			}
		})
	}
}
