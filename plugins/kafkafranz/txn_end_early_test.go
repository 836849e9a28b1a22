package kafkafranz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// startUrgentCopy copies A to B in transactions of a 40 s commit_period;
// the mapping sets metadata `urgent` on the records whose value is urgent.
// inputFields are more kafka_franz input fields, one per line.
func startUrgentCopy(t *testing.T, addr, urgent, inputFields string) *service.Stream {
	t.Helper()
	s := buildStream(t, fmt.Sprintf(`
input:
  label: src
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topics: [ A ]
    consumer_group: copy
%[3]s    batching: { count: 5, period: 20ms }
    transaction: { enabled: true, id: copy-0, timeout: 1m, commit_period: 40s }
pipeline:
  processors:
    - mapping: |
        meta urgent = if content().string() == %[2]q { "yes" }
output:
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topic: B
    transaction: { input: src, end_early_on_metadata: urgent }
`, addr, urgent, inputFields))
	go func() { _ = s.Run(context.Background()) }()
	t.Cleanup(func() { _ = s.StopWithin(10 * time.Second) })
	return s
}

// A record carrying end_early_on_metadata commits its transaction at once,
// not at the end of the 40 s commit_period: the group's offsets and B's
// records are committed within 15 s.
func TestTransactionEndsEarlyOnMetadata(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "A", "B"))
	produce(t, addr, "A", 0, 10)
	startUrgentCopy(t, addr, "v-9", "")
	deadline := time.Now().Add(15 * time.Second)
	for groupProgress(t, addr, "copy", "A") < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("group copy committed %d of 10 records 15 s after start: the transaction waited for its commit_period",
				groupProgress(t, addr, "copy", "A"))
		}
		time.Sleep(20 * time.Millisecond) // polling the stream's progress
	}
	if got := readTopic(t, addr, "B", true); len(got) != 10 {
		t.Errorf("B holds %d committed records, want 10", len(got))
	}
}

// CaughtUp is false while more than checkpoint_limit records wait behind
// the fetch position of a partition, true once they are read.
func TestConsumerCaughtUp(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "A"))
	for i := range 50 { // 50 record batches: a fetch returns whole batches
		produce(t, addr, "A", i*100, 100)
	}
	c := franz.NewConsumer(franz.ConsumerConfig{
		Client: franz.ClientConfig{SeedBrokers: []string{addr}},
		Topics: franz.TopicSpec{Topics: []string{"A"}}, Group: "g", CheckpointLimit: 100,
		FetchMaxPartitionBytes: 1024, FetchMaxBytes: 1024,
	}, testLogger{t}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.CaughtUp() {
		t.Error("CaughtUp before any fetch: want true (nothing known)")
	}
	got := 0
	for _, ch := range pollUntil(ctx, t, c, 1) {
		got += len(ch.Records)
		ch.Ack()
	}
	if got >= 4900 {
		t.Fatalf("one poll read %d records: the fetch limits did not hold, the test cannot see a backlog", got)
	}
	if c.CaughtUp() {
		t.Errorf("CaughtUp after reading %d of 5000 records: want false", got)
	}
	for got < 5000 {
		for _, ch := range pollUntil(ctx, t, c, 1) {
			got += len(ch.Records)
			ch.Ack()
		}
	}
	if !c.CaughtUp() {
		t.Error("CaughtUp after reading every record: want true")
	}
}

// A request to end early made while the input is behind (a backlog) is not
// dropped: it is honoured once the input has caught up, not at the end of
// the 40 s commit_period. The urgent record is the first of 400, fetched
// 20 at a time with checkpoint_limit 20; before the fix the request was
// taken and forgotten while the consumer was behind, and nothing committed
// for 40 s.
func TestTransactionEndRequestedDuringABacklogWaitsForCatchUp(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "A", "B"))
	for i := range 20 { // 20 record batches: a fetch returns whole batches
		produce(t, addr, "A", i*20, 20)
	}
	startUrgentCopy(t, addr, "v-0", "    checkpoint_limit: 20\n    fetch_max_partition_bytes: 1KiB\n")
	deadline := time.Now().Add(15 * time.Second)
	// Nothing commits before the period unless the early end happens; it
	// happens once the fetch position is within checkpoint_limit of the end
	// (what was handed out by then commits; the rest waits for the period).
	for groupProgress(t, addr, "copy", "A") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("group copy committed %d of 400 records 15 s after start: the request to end early was lost while the input was behind",
				groupProgress(t, addr, "copy", "A"))
		}
		time.Sleep(20 * time.Millisecond) // polling the stream's progress
	}
}
