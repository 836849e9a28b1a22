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
// Duplicates are bounded by what A had in flight downstream at the revoke
// (handed to the pipeline, not acked): records A had fetched but not yet
// handed over for the partitions it lost must be dropped, not delivered.
func TestRebalanceTwoConsumers(t *testing.T) {
	const records, ackBeforeJoin = 30_000, 2_000
	be := needBroker(t)
	adm := be.adminClient(t)
	topic := uniqueName("rides-rebalance")
	createTopic(t, adm, topic, 6)
	produceRides(t, be, topic, records)
	group := uniqueName("realkafka-rebalance")

	got := newTally(records)
	all := make(chan struct{})
	var onceAll sync.Once
	count := func(idx []int) {
		for _, i := range idx {
			if got.add(i) && got.seenCount() == records {
				onceAll.Do(func() { close(all) })
			}
		}
	}
	var ackedA, deliveredA, deliveredB atomic.Int64
	aStarted := make(chan struct{})
	bDelivered := make(chan struct{})
	var onceA, onceB sync.Once
	// A acks whole batches (the unit its input commits) until ackBeforeJoin,
	// then its sink holds the next batch until B has delivered.
	a := startBatchConsumer(t, be, topic, group, records, func(ctx context.Context, idx []int) error {
		if ackedA.Load() >= ackBeforeJoin {
			onceA.Do(func() { close(aStarted) })
			select { // A's sink waits for B to share the work
			case <-bDelivered:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		deliveredA.Add(int64(len(idx)))
		count(idx)
		ackedA.Add(int64(len(idx)))
		return nil
	})
	a.wait(aStarted, 3*time.Minute, "consumer A's first acks")
	b := startBatchConsumer(t, be, topic, group, records, func(_ context.Context, idx []int) error {
		deliveredB.Add(int64(len(idx)))
		onceB.Do(func() { close(bDelivered) })
		count(idx)
		return nil
	})
	b.wait(bDelivered, 2*time.Minute, "a delivery by consumer B after the rebalance")
	// B delivering means A has revoked what moved to B. A's sink is still
	// held, so what its input handed downstream and A did not ack is its
	// in-flight at the revoke (an over-estimate by whatever A's input read
	// for the partitions it kept since then).
	inFlight := a.rec.get("input_received") - ackedA.Load()
	a.wait(all, 3*time.Minute, "every record from A and B together")
	b.stop(time.Minute)
	a.stop(time.Minute)

	if n, first := got.missing(func(int) bool { return true }, 10); n > 0 {
		t.Fatalf("lost %d records across the rebalance; first missing: %v", n, first)
	}
	dups := got.dupCount()
	t.Logf("A delivered %d, B delivered %d; %d duplicate deliveries across the rebalance; A had %d records in flight at the revoke and dropped %d fetched records of revoked partitions",
		deliveredA.Load(), deliveredB.Load(), dups, inFlight, a.rec.get("kafka_input_revoked_dropped_total"))
	if int64(dups) > inFlight {
		t.Errorf("%d duplicates across the rebalance, more than the %d records A had in flight at the revoke: records of revoked partitions were delivered after the revoke", dups, inFlight)
	}
	checkCommittedAtEnd(t, adm, topic, group)
}
