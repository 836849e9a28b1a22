package franz

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

// A consumer that is no longer a member of its group (here removed by the
// coordinator, as after a pause past its session timeout) must not flush the
// commit barrier when it next releases its acks: the flush would write the
// window's in-memory state, older than the new owner's, over the shared
// checkpoint. A member that is still in the group flushes as before, even
// when its last proof of membership is old.
func TestReleaseDoesNotFlushOnceTheConsumerLeftItsGroup(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 20)
	var flushed atomic.Int32
	b := commitbarrier.New()
	b.Register(func(context.Context) error {
		flushed.Add(1)
		return nil
	})
	c := connectTestConsumer(t, addr, func(conf *ConsumerConfig) {
		conf.InstanceID = "replica-a"
		// It does not learn it was removed, as a paused process does not.
		conf.SessionTimeout, conf.HeartbeatInterval = 5*time.Minute, 4*time.Minute
	}, func(c *Consumer) { c.barrier = b })
	testMemberProofAge = time.Nanosecond // every release asks the coordinator
	t.Cleanup(func() { testMemberProofAge = 0 })

	ackAll(t, c, 20)
	c.releaseHeld(context.Background(), c.client())
	if flushed.Load() != 1 {
		t.Fatalf("a member flushed %d times, want 1", flushed.Load())
	}

	produceN(t, addr, "t", 0, 20)
	more := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := testAdmin(t, addr).LeaveGroup(ctx, kadm.LeaveGroup("g").InstanceIDs("replica-a")); err != nil {
		t.Fatal(err)
	}
	for _, ch := range more {
		ch.Ack()
	}
	c.releaseHeld(context.Background(), c.client())
	if flushed.Load() != 1 {
		t.Fatalf("flushed %d times after the consumer left its group, want still 1", flushed.Load())
	}
	if c.log.(*testLog).find("WARN", "no longer a member") == "" {
		t.Fatal("the refused flush was not logged")
	}
}

// A second group consumer of the process that owns nothing (its topic does
// not exist yet, as an internal topic before its creator runs; or it stands
// by) has no partition whose state could be stale: its membership check
// passes, and the window is not fenced. Before, it asked the coordinator,
// found no member and fenced the window for good: a config with such a
// second input never wrote its state again.
func TestAConsumerOwningNothingDoesNotFenceTheBarrier(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 20)
	b := commitbarrier.New()
	var fenced atomic.Int32
	b.OnFenced(func() { fenced.Add(1) })
	owner := connectTestConsumer(t, addr, nil, func(c *Consumer) { c.barrier = b })
	pollUntil(t, owner, func(cs []Chunk) bool { return records(cs) >= 20 })
	connectTestConsumer(t, addr, func(conf *ConsumerConfig) {
		conf.Group, conf.Topics = "g-idle", TopicSpec{Topics: []string{"not-created"}}
	}, func(c *Consumer) { c.barrier = b })
	testMemberProofAge = time.Nanosecond // every check asks the coordinator
	t.Cleanup(func() { testMemberProofAge = 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Confirm(ctx); err != nil {
		t.Fatalf("confirm with an idle second consumer: %v", err)
	}
	if fenced.Load() != 0 {
		t.Fatal("the idle consumer fenced the barrier")
	}
}

// A second process started with the same instance_id takes the static
// member's place; the first is refused (FENCED_INSTANCE_ID) and says so,
// naming the instance_id, instead of only franz-go's retries.
func TestAConsumerFencedByItsInstanceIDSaysWhy(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 10)
	same := func(conf *ConsumerConfig) { conf.InstanceID = "replica-0" }
	first, log, _ := newTestConsumer(t, addr, same)
	pollUntil(t, first, func(cs []Chunk) bool { return records(cs) >= 10 })
	newTestConsumer(t, addr, same)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if log.find("ERROR", `instance_id "replica-0" (FENCED_INSTANCE_ID)`) != "" {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the first consumer's log
	}
	t.Fatal("the fenced consumer did not log that another process uses its instance_id")
}
