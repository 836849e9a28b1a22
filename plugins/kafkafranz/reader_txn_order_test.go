package kafkafranz

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// A batch of a partition waits for the ack of the one before it; batches of
// other partitions do not.
func TestPartitionTurnsOneBatchPerPartition(t *testing.T) {
	pt := newPartitionTurns()
	p0, p1 := partitionKey{"rides", 0}, partitionKey{"rides", 1}
	ctx := context.Background()
	if err := pt.take(ctx, []partitionKey{p0}); err != nil {
		t.Fatal(err)
	}
	if err := pt.take(ctx, []partitionKey{p1}); err != nil {
		t.Fatalf("another partition waited: %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- pt.take(ctx, []partitionKey{p1, p0}) }()
	select {
	case err := <-got:
		t.Fatalf("a second batch of partitions 0 and 1 went out before their first batches were acked (%v)", err)
	default:
	}
	pt.give([]partitionKey{p0})
	pt.give([]partitionKey{p1})
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting batch did not go out once both partitions were freed")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := pt.take(cctx, []partitionKey{p0}); err == nil {
		t.Fatal("take on a busy partition returned without error after its context ended")
	}
}

// The first formed batch of a free partition goes to the front, ahead of
// batches of busy partitions only: each partition's batches keep their order.
func TestFrontFreeSkipsBusyPartitionsKeepingEachOrder(t *testing.T) {
	batch := func(name string, parts ...int32) readyBatch {
		rb := readyBatch{batch: service.MessageBatch{service.NewMessage([]byte(name))}}
		for _, p := range parts {
			rb.chunks = append(rb.chunks, franz.Chunk{Topic: "rides", Partition: p})
		}
		return rb
	}
	order := func(t *txnReader) string {
		var s []string
		for _, rb := range t.reader.ready {
			b, _ := rb.batch[0].AsBytes()
			s = append(s, string(b))
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct {
		busy  []int32
		ready []readyBatch
		want  string
	}{
		{[]int32{0}, []readyBatch{batch("a0", 0), batch("b0", 0), batch("c1", 1), batch("d1", 1)}, "c1 a0 b0 d1"},
		{nil, []readyBatch{batch("a0", 0), batch("c1", 1)}, "a0 c1"},
		{[]int32{0, 1}, []readyBatch{batch("a0", 0), batch("c1", 1)}, "a0 c1"},
		// A poll-scope batch of 0 and 1 waits (0 is busy); the next free one is e2.
		{[]int32{0}, []readyBatch{batch("a0", 0), batch("x01", 0, 1), batch("e2", 2)}, "e2 a0 x01"},
		// b1 must not pass a1: the first free batch of a partition is its earliest.
		{[]int32{0}, []readyBatch{batch("a0", 0), batch("x01", 0, 1), batch("b1", 1)}, "a0 x01 b1"},
	} {
		tr := &txnReader{reader: &reader{ready: c.ready}, turns: newPartitionTurns()}
		var busy []partitionKey
		for _, p := range c.busy {
			busy = append(busy, partitionKey{"rides", p})
		}
		if err := tr.turns.take(context.Background(), busy); err != nil {
			t.Fatal(err)
		}
		tr.frontFree()
		if got := order(tr); got != c.want {
			t.Errorf("busy %v: order %q, want %q", c.busy, got, c.want)
		}
	}
}
