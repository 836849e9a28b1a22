package kafkafranz

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A record above franz-go's default 1 000 012 bytes (the scale-out window's
// stage-2 state of ~5 000 open (window, city) pairs per internal partition)
// commits in a transaction whose input sets transaction.max_message_bytes.
// With the default the producer refused it (MESSAGE_TOO_LARGE) on every
// retry: the transaction aborted, was consumed again and aborted, forever.
func TestTransactionProducesARecordAboveTheDefaultMaxMessageBytes(t *testing.T) {
	c, addr := newCluster(t)
	big := map[string]string{"max.message.bytes": "4194304"}
	for _, topic := range []string{"A", "B"} {
		if err := c.CreateTopic(topic, 1, big); err != nil {
			t.Fatal(err)
		}
	}
	value := bytes.Repeat([]byte("s"), 1_500_000)
	produceRecords(t, addr, []*kgo.Record{{Topic: "A", Value: value}}, kgo.ProducerBatchMaxBytes(4<<20))

	s := buildStream(t, fmt.Sprintf(`
input:
  label: src
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topics: [ A ]
    consumer_group: copy
    start_offset: earliest
    transaction: { enabled: true, id: copy-0, timeout: 1m, commit_period: 100ms, max_message_bytes: 4MiB }
output:
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topic: B
    transaction: { input: src }
`, addr))
	go func() { _ = s.Run(context.Background()) }()
	t.Cleanup(func() { _ = s.StopWithin(10 * time.Second) })

	deadline := time.Now().Add(20 * time.Second)
	for groupProgress(t, addr, "copy", "A") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the 1.5 MB record was not committed 20 s after start (group copy at %d of 1)", groupProgress(t, addr, "copy", "A"))
		}
		time.Sleep(50 * time.Millisecond) // polling the stream's progress
	}
	got := readTopic(t, addr, "B", true)
	if len(got) != 1 || len(got[0]) != len(value) {
		t.Fatalf("B holds %d committed records, want the one of %d bytes", len(got), len(value))
	}
}
