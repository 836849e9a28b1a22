package kafkafranz

import (
	"context"
	"testing"
	"time"
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
