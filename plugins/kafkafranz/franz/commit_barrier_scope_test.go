package franz

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

// scopedConsumer is a consumer (configured by mod) of n records of topic
// t whose barrier has one flush for t (counted, failing while tFails is
// set, as it starts) and one for topic other, which always fails: the state
// of another stage of the process, whose store is down.
func scopedConsumer(t *testing.T, n int, mod func(*ConsumerConfig)) (c *Consumer, addr string, tFlushes *atomic.Int32, tFails *atomic.Bool) {
	t.Helper()
	addr = cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, n)
	tFlushes, tFails = &atomic.Int32{}, &atomic.Bool{}
	tFails.Store(true)
	b := commitbarrier.New()
	b.RegisterFor(func(context.Context) error {
		if tFails.Load() {
			return errors.New("t's state store down")
		}
		tFlushes.Add(1)
		return nil
	}, func(topic string) bool { return topic == "t" })
	b.RegisterFor(func(context.Context) error {
		return errors.New("other's state store down")
	}, func(topic string) bool { return topic == "other" })
	c = connectTestConsumer(t, addr, mod, func(c *Consumer) { c.barrier = b })
	return c, addr, tFlushes, tFails
}

// A consumer's commit waits for the flushes of the state kept for its own
// topic only: another topic's failing flush (stage 1's checkpoint store, in
// a process whose stage 2 reads the internal topic) holds nothing here,
// while its own topic's failing flush still does.
func TestACommitWaitsOnlyForTheFlushesOfItsTopics(t *testing.T) {
	c, addr, flushes, tFails := scopedConsumer(t, 30, nil)
	ackAll(t, c, 30)
	if got := releaseAndCommit(t, c, addr); got != -1 {
		t.Fatalf("committed %d although t's own flush failed, want nothing", got)
	}
	tFails.Store(false)
	if got := releaseAndCommit(t, c, addr); got != 30 {
		t.Fatalf("committed %d with t's flush done and only other's failing, want 30", got)
	}
	if n := flushes.Load(); n != 1 {
		t.Fatalf("t's flush succeeded %d times, want 1", n)
	}
}

// The same for a transaction: another topic's failing flush does not abort
// it; its own topic's does.
func TestATransactionWaitsOnlyForTheFlushesOfItsTopics(t *testing.T) {
	c, addr, _, tFails := scopedConsumer(t, 20, func(cc *ConsumerConfig) {
		cc.Txn = &TxnConfig{ID: "scoped-1", Timeout: 10 * time.Second}
	})
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 20 })
	end := func() bool { t.Helper(); return endTxnMarkingAll(t, c, chunks, true) }
	if end() {
		t.Fatal("a transaction committed although t's own flush failed")
	}
	tFails.Store(false)
	chunks = pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 20 }) // read again after the abort
	if !end() {
		t.Fatal("a transaction aborted for the failing flush of another topic's state")
	}
	if got := groupCommitted(t, addr, "g", "t", 0); got != 20 {
		t.Fatalf("committed %d, want 20", got)
	}
}
