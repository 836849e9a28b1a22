package kafkafranz

import (
	"context"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
)

// With batching, one fetched chunk is spread over several batches; it is
// released to the offset tracker only when all of them are acked, and a
// repeated ack of one batch does not release it early.
func TestReaderChunkReleasedOnlyWhenAllBatchesAcked(t *testing.T) {
	forScopes(t, testReaderChunkReleasedOnlyWhenAllBatchesAcked)
}

func testReaderChunkReleasedOnlyWhenAllBatchesAcked(t *testing.T, scope string) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	produce(t, addr, "rides", 0, 20)

	r := testReader(t, addr, "{count: 10}", scope, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer r.Close(ctx)

	var acks []service.AckFunc
	seen := 0
	for seen < 20 {
		b, ack, err := r.ReadBatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 10 {
			t.Fatalf("batch of %d > count 10", len(b))
		}
		seen += len(b)
		acks = append(acks, ack)
	}
	pending := func() int { return r.cons.Pending()["rides/0"] }
	if pending() != 20 {
		t.Fatalf("pending %d before acks, want 20", pending())
	}
	for range 3 {
		_ = acks[0](ctx, nil) // repeated acks of the first batch only
	}
	if len(acks) > 1 && pending() != 20 {
		t.Fatalf("pending %d after acking only the first batch, want 20 (chunk released early)", pending())
	}
	for _, ack := range acks[1:] {
		_ = ack(ctx, nil)
	}
	if pending() != 0 {
		t.Fatalf("pending %d after all acks, want 0", pending())
	}
}

// Poll scope: a round of several batches is built one batch at a time, as
// ReadBatch asks for them, not all at once: nothing formed waits behind the
// batch handed out. Records of each partition still arrive in offset order,
// each once.
func TestPollRoundIsBuiltAsReadBatchAsks(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 90)

	r := testReader(t, addr, "{count: 10}", scopePoll, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer r.Close(ctx)

	next := map[int]int{} // partition -> next expected offset
	seen, pendingSeen := 0, false
	for seen < 90 {
		b, ack, err := r.ReadBatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.ready) != 0 {
			t.Fatalf("%d formed batches wait behind the one handed out, want none", len(r.ready))
		}
		pendingSeen = pendingSeen || r.round != nil
		for _, m := range b {
			p, o := metaInt(m, "kafka_partition"), metaInt(m, "kafka_offset")
			if o != next[p] {
				t.Fatalf("partition %d: offset %d delivered when %d was next", p, o, next[p])
			}
			next[p]++
		}
		seen += len(b)
		_ = ack(ctx, nil)
	}
	if !pendingSeen {
		t.Fatal("no round was ever left pending: every poll fit one batch, the test proves nothing")
	}
}
