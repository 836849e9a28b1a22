package kafkafranz

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// After an abort the consumer resumes at the committed offset, and the
// chunks of the new epoch say so (Chunk.Start, kafka_assignment_offset):
// -1 before any commit, then the offset the last committed transaction
// left.
func TestAssignmentStartIsTheCommittedOffsetAfterARewind(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "A"))
	produce(t, addr, "A", 0, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newTxnConsumer(t, addr, "s-1")
	first := pollUntil(ctx, t, c, 10)
	if first[0].Start != -1 {
		t.Fatalf("Start %d before any commit, want -1", first[0].Start)
	}
	if err := c.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range first {
		ch.Ack()
		c.MarkTxn(ch.Records[len(ch.Records)-1]) // what the reader does for an acked batch
	}
	if ok, err := c.EndTxn(ctx, true); err != nil || !ok {
		t.Fatalf("commit: committed=%v err=%v", ok, err)
	}
	produce(t, addr, "A", 0, 5) // 10..14
	second := pollUntil(ctx, t, c, 5)
	if err := c.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range second {
		ch.Ack()
	}
	if ok, err := c.EndTxn(ctx, false); err != nil || ok {
		t.Fatalf("abort: committed=%v err=%v", ok, err)
	}
	again := pollUntil(ctx, t, c, 5)
	if again[0].Records[0].Offset != 10 || again[0].Start != 10 {
		t.Fatalf("after the abort: first record %d, Start %d; want 10 and 10", again[0].Records[0].Offset, again[0].Start)
	}
}
