package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/miaradia/rides-connect/internal/harness"
)

// localGroup is config/rides.yaml's default KAFKA_GROUP; its
// internal topic is <group>-repartition.
const localGroup = "rides-connect-rides"

// internalTopicDown starts a kfake broker with rides (6 partitions) and
// rides_dlq whose local-job internal topic refuses every write (a fault
// injected into the broker) until the returned handle is removed.
func internalTopicDown(t *testing.T) (*harness.Broker, *kfake.FaultHandle) {
	t.Helper()
	broker, err := harness.StartBroker(map[string]int32{"rides": 6, "rides_dlq": 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	fault := broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: localGroup + "-repartition",
		Err: kerr.TopicAuthorizationFailed, Count: -1})
	t.Cleanup(fault.Remove)
	return broker, fault
}

// producedReference produces values with keys to rides (spread over its
// partitions by the default partitioner) and returns the per-partition
// reference of what the topic then holds (5-minute windows, 10-minute
// delay, as the config).
func producedReference(ctx context.Context, t *testing.T, broker *harness.Broker, values, keys [][]byte) []harness.WindowRow {
	t.Helper()
	if err := broker.Produce(ctx, "rides", values, func(i int) []byte { return keys[i] }); err != nil {
		t.Fatal(err)
	}
	recs, err := broker.ReadAll(ctx, "rides")
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := harness.PartitionedReference(harness.RidesByPartition(recs), 5*time.Minute, 10*time.Minute)
	if err != nil || len(want) == 0 {
		t.Fatalf("reference: %d rows, %v", len(want), err)
	}
	return want
}
