package kafkafranz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// An output whose max_message_bytes (1MiB) is above its topic's
// max.message.bytes (20 000 here) bounds its batches to the topic's: 3 000
// records of ~100 bytes, lingered into large batches, are all written.
// Before, every batch above 20 000 bytes was refused whole and retried
// for good (red team of session 19: a dead-letter topic created with
// Kafka's default 1 MB under max_message_bytes 8MiB stalled the job).
func TestOutputBatchesFitTheTopicsMaxMessageBytes(t *testing.T) {
	_, addr := newCluster(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	limit := "20000"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": &limit}, "DLQ"); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	s := buildStream(t, fmt.Sprintf(`
input:
  generate: { count: %[2]d, interval: "", mapping: 'root = "dead letter " + counter().string() + " " + "x".repeat(80)' }
output:
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topic: DLQ
    max_message_bytes: 1MiB
    linger: 200ms
    max_in_flight: 64
    batching: { count: 500 }
`, addr, n))
	go func() { _ = s.Run(context.Background()) }()
	t.Cleanup(func() { _ = s.StopWithin(10 * time.Second) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := len(readTopic(t, addr, "DLQ", false))
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records in the topic after 20 s: batches larger than its max.message.bytes were refused", got, n)
		}
		time.Sleep(50 * time.Millisecond) // polling the topic
	}
}
