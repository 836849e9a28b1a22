package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
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

// freshLayout is an empty job layout (checkpoint, table, logs) in a
// directory of the test's.
func freshLayout(t *testing.T) harness.Layout {
	t.Helper()
	layout := harness.NewLayout(t.TempDir())
	if err := layout.Reset(); err != nil {
		t.Fatal(err)
	}
	return layout
}

// keyedRides encodes rides as values keyed by rideId, with a malformed
// record (keyed bad-<i>) before ride i whenever i%badEvery == badEvery/2
// (badEvery 0: none); bad is how many.
func keyedRides(rides []harness.Ride, badEvery int) (values, keys [][]byte, bad int) {
	for i, r := range rides {
		if badEvery > 0 && i%badEvery == badEvery/2 {
			values, keys = append(values, []byte(`{"rideId":`)), append(keys, []byte("bad-"+strconv.Itoa(i)))
			bad++
		}
		v, _ := json.Marshal(r)
		values, keys = append(values, v), append(keys, []byte(strconv.FormatInt(r.RideID, 10)))
	}
	return values, keys, bad
}

// startReplica starts config/rides.yaml on layout as the replica name
// (its KAFKA_INSTANCE_ID and log), killed with the test; it returns the
// process and its /metrics URL.
func startReplica(t *testing.T, broker *harness.Broker, layout harness.Layout, name string) (*harness.Process, string) {
	t.Helper()
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := append(layout.JobEnv(broker.Addr, httpAddr), "KAFKA_INSTANCE_ID="+name)
	job, err := harness.Start(binary, []string{"-c", filepath.Join(repoRoot, "config", "rides.yaml")},
		env, filepath.Join(layout.Logs, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(job.Kill)
	return job, "http://" + httpAddr + "/metrics"
}

// noRowsYet fails the test if the table has a row while no bundle could
// be written to the internal topic.
func noRowsYet(ctx context.Context, t *testing.T, layout harness.Layout) {
	t.Helper()
	if rows, _, err := harness.TableRows(ctx, layout.Table); err != nil || len(rows) != 0 {
		t.Fatalf("%d rows in the table while no bundle could be written (%v)", len(rows), err)
	}
}
