package kafkafranz

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// newGroupConsumer is a plain (not transactional) consumer of A in group gen.
func newGroupConsumer(t *testing.T, addr string) *franz.Consumer {
	t.Helper()
	c := franz.NewConsumer(franz.ConsumerConfig{
		Client: franz.ClientConfig{SeedBrokers: []string{addr}},
		Topics: franz.TopicSpec{Topics: []string{"A"}}, Group: "gen",
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
	}, testLogger{t}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// generations polls c (in slices of 100 ms, so that rebalances proceed)
// until it got records of every partition in want, and returns the
// generation each chunk of them carried.
func generations(t *testing.T, c *franz.Consumer, want ...int32) map[int32]int32 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	got := map[int32]int32{}
	for len(got) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("records of partitions %v did not come (got %v)", want, got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		chunks, _ := c.Poll(ctx)
		cancel()
		for _, ch := range chunks {
			for _, p := range want {
				if ch.Partition != p {
					continue
				}
				if g, seen := got[p]; seen && g != ch.Generation {
					t.Fatalf("partition %d: generations %d and %d in one assignment", p, g, ch.Generation)
				}
				got[p] = ch.Generation
			}
			ch.Ack()
		}
	}
	return got
}

// The generation a chunk carries is the one at which its consumer was
// assigned the partition: the partition that moves to a second member has
// a higher one there, the partition the first member keeps keeps its own.
func TestGroupGenerationGrowsFromOwnerToOwner(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "A"))
	produce(t, addr, "A", 0, 4) // round robin: 2 records per partition
	c1 := newGroupConsumer(t, addr)
	first := generations(t, c1, 0, 1)
	if first[0] < 1 || first[0] != first[1] {
		t.Fatalf("first member's generations %v, want one value >= 1 for both partitions", first)
	}
	c2 := newGroupConsumer(t, addr)
	// c1 keeps polling so the (cooperative) rebalance can take a partition
	// from it and give it to c2.
	deadline := time.Now().Add(30 * time.Second)
	for c2.Assigned() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no partition moved to the second member")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		chunks, _ := c1.Poll(ctx)
		cancel()
		for _, ch := range chunks {
			ch.Ack()
		}
	}
	produce(t, addr, "A", 4, 4) // new records in both partitions
	var moved int32 = -1
	for moved < 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second member got no records")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		chunks, _ := c2.Poll(ctx)
		cancel()
		for _, ch := range chunks {
			ch.Ack()
			moved = ch.Partition
			if ch.Generation <= first[ch.Partition] {
				t.Fatalf("partition %d moved to the second member at generation %d, not above the first owner's %d", ch.Partition, ch.Generation, first[ch.Partition])
			}
		}
	}
	kept := 1 - moved
	if g := generations(t, c1, kept)[kept]; g != first[kept] {
		t.Fatalf("partition %d kept by the first member: generation %d, want %d (unchanged while it keeps it)", kept, g, first[kept])
	}
	t.Logf("first member: generation %d for both partitions; partition %d moved to the second member at a higher one", first[0], moved)
}
