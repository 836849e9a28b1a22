package realkafka

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRestartAtLeastOnce is at-least-once through a stop with records in
// flight, on a real broker's group coordinator: consumer A acks its first
// deliveries, then its sink gets stuck (records held, then nacked) and A is
// stopped without draining it. Consumer B in the same group must then
// deliver every record A did not ack: the group's committed offsets never
// passed an un-acked record. (In-process, so not a SIGKILL: A's client may
// still commit its acked offsets on the way out; the kfake tier of
// plugins/kafkafranz covers the no-commit crash.)
func TestRestartAtLeastOnce(t *testing.T) {
	const records, ackBeforeCrash = 20_000, 5_000
	be := needBroker(t)
	adm := be.adminClient(t)
	topic := uniqueName("rides-restart")
	createTopic(t, adm, topic, 6)
	produceRides(t, be, topic, records)
	group := uniqueName("realkafka-restart")

	ackedA := newTally(records)
	var deliveredA, heldA atomic.Int64
	reached := make(chan struct{})
	crash := make(chan struct{})
	var once sync.Once
	a := startConsumer(t, be, topic, group, records, func(ctx context.Context, i int) error {
		if n := deliveredA.Add(1); n <= ackBeforeCrash {
			ackedA.add(i)
			if n == ackBeforeCrash {
				once.Do(func() { close(reached) })
			}
			return nil
		}
		heldA.Add(1)
		select { // the stuck sink: held until the crash, then nacked
		case <-crash:
		case <-ctx.Done():
		}
		return errors.New("sink stuck: crashed before delivering")
	})
	a.wait(reached, 3*time.Minute, "consumer A's first acks")
	close(crash)
	a.stop(5 * time.Second)
	t.Logf("consumer A: acked %d, held then nacked %d deliveries before the crash", ackedA.seenCount(), heldA.Load())

	notAckedByA := func(i int) bool { return !ackedA.has(i) }
	gotB := newTally(records)
	var newToB atomic.Int64
	want := int64(records - ackedA.seenCount())
	all := make(chan struct{})
	var onceB sync.Once
	b := startConsumer(t, be, topic, group, records, func(_ context.Context, i int) error {
		if gotB.add(i) && notAckedByA(i) && newToB.Add(1) == want {
			onceB.Do(func() { close(all) })
		}
		return nil
	})
	b.wait(all, 3*time.Minute, "every record A did not ack")
	b.stop(time.Minute)

	if n, first := gotB.missing(notAckedByA, 10); n > 0 {
		t.Fatalf("%d records not acked by A were never delivered to B (committed past un-acked records); first: %v", n, first)
	}
	reread := 0
	for i := range records {
		if ackedA.has(i) && gotB.has(i) {
			reread++
		}
	}
	t.Logf("consumer B: %d distinct records (%d of them already acked by A, re-read after the crash), %d duplicate deliveries",
		gotB.seenCount(), reread, gotB.dupCount())
	checkCommittedAtEnd(t, adm, topic, group)
}
