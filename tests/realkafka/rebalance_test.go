package realkafka

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRebalanceTwoConsumers runs two of our inputs in one group on a real
// broker's group coordinator: A starts alone; after its first acks its sink
// waits until B, joining later, has delivered a record (so the partitions
// really were split by a rebalance while A had records in flight). Together
// they must deliver every record, and the group must end committed at the end.
func TestRebalanceTwoConsumers(t *testing.T) {
	const records, ackBeforeJoin = 30_000, 2_000
	be := needBroker(t)
	needKafkaFranz(t, "input", "output")
	adm := be.adminClient(t)
	topic := uniqueName("rides-rebalance")
	createTopic(t, adm, topic, 6)
	produceRides(t, be, topic, records)
	group := uniqueName("realkafka-rebalance")

	got := newTally(records)
	all := make(chan struct{})
	var onceAll sync.Once
	count := func(i int) {
		if got.add(i) && got.seenCount() == records {
			onceAll.Do(func() { close(all) })
		}
	}
	var deliveredA, deliveredB atomic.Int64
	aStarted := make(chan struct{})
	bDelivered := make(chan struct{})
	var onceA, onceB sync.Once
	a := startConsumer(t, be, topic, group, records, func(ctx context.Context, i int) error {
		if deliveredA.Add(1) > ackBeforeJoin {
			onceA.Do(func() { close(aStarted) })
			select { // A's sink waits for B to share the work
			case <-bDelivered:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		count(i)
		return nil
	})
	a.wait(aStarted, 3*time.Minute, "consumer A's first acks")
	b := startConsumer(t, be, topic, group, records, func(_ context.Context, i int) error {
		deliveredB.Add(1)
		onceB.Do(func() { close(bDelivered) })
		count(i)
		return nil
	})
	b.wait(bDelivered, 2*time.Minute, "a delivery by consumer B after the rebalance")
	a.wait(all, 3*time.Minute, "every record from A and B together")
	b.stop(time.Minute)
	a.stop(time.Minute)

	if n, first := got.missing(func(int) bool { return true }, 10); n > 0 {
		t.Fatalf("lost %d records across the rebalance; first missing: %v", n, first)
	}
	t.Logf("A delivered %d, B delivered %d; %d duplicate deliveries across the rebalance",
		deliveredA.Load(), deliveredB.Load(), got.dupCount())
	checkCommittedAtEnd(t, adm, topic, group)
}
