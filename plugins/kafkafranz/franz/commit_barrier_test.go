package franz

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

// barrierConsumer is newTestConsumer with its own commit barrier, whose one
// flush fails while fail is set and counts the flushes that succeeded.
func barrierConsumer(t *testing.T, addr string, fail *atomic.Bool, flushed *atomic.Int32, during func()) *Consumer {
	t.Helper()
	b := commitbarrier.New()
	b.Register(func(context.Context) error {
		if during != nil {
			during()
		}
		if fail.Load() {
			return errors.New("state store down")
		}
		flushed.Add(1)
		return nil
	})
	return connectTestConsumer(t, addr, nil, func(c *Consumer) { c.barrier = b })
}

// ackAll polls until n records came and acks them all.
func ackAll(t *testing.T, c *Consumer, n int) {
	t.Helper()
	for _, ch := range pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= n }) {
		ch.Ack()
	}
}

// releaseAndCommit releases what c holds for the barrier, commits what is
// marked, and returns the group's committed offset of t/0 (-1: none).
func releaseAndCommit(t *testing.T, c *Consumer, addr string) int64 {
	t.Helper()
	c.releaseHeld(context.Background(), c.client())
	commitMarked(t, c)
	return groupCommitted(t, addr, "g", "t", 0)
}

func commitMarked(t *testing.T, c *Consumer) {
	t.Helper()
	if err := c.client().CommitMarkedOffsets(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// While the barrier has a flush, acked offsets are committed only after a
// flush that succeeded: a failed one leaves them uncommitted (and held for
// the next release), a later one commits them, and reports them to the
// barrier's OnAcked listeners.
func TestAckedOffsetsCommitOnlyAfterTheBarrierFlushed(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 60)
	var fail atomic.Bool
	var flushed atomic.Int32
	fail.Store(true)
	c := barrierConsumer(t, addr, &fail, &flushed, nil)
	var reported atomic.Int64
	c.barrier.OnAcked(func(topic string, partition int32, next int64) {
		if topic == "t" && partition == 0 {
			reported.Store(next)
		}
	})
	ackAll(t, c, 60)
	commitMarked(t, c)
	if got := groupCommitted(t, addr, "g", "t", 0); got != -1 {
		t.Fatalf("committed %d before any flush, want nothing", got)
	}
	if got := releaseAndCommit(t, c, addr); got != -1 {
		t.Fatalf("committed %d after a failed flush, want nothing", got)
	}
	if c.log.(*testLog).find("WARN", "state not made durable") == "" {
		t.Fatal("a failed flush was not logged")
	}
	if n := reported.Load(); n != 0 {
		t.Fatalf("offset %d reported acknowledged after a failed flush, want none", n)
	}
	fail.Store(false)
	if got := releaseAndCommit(t, c, addr); got != 60 {
		t.Fatalf("committed %d after a flush that succeeded, want 60", got)
	}
	if n := reported.Load(); n != 60 {
		t.Fatalf("OnAcked told offset %d after the flush, want 60 (every record acked)", n)
	}
	if n := flushed.Load(); n != 1 {
		t.Fatalf("%d flushes succeeded, want 1", n)
	}
}

// An ack that arrives while the barrier flushes is not covered by that flush
// and waits for the next one.
func TestAnAckDuringTheFlushWaitsForTheNextOne(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 50)
	var fail atomic.Bool
	var flushed atomic.Int32
	var late func()
	c := barrierConsumer(t, addr, &fail, &flushed, func() {
		if late != nil {
			late()
			late = nil
		}
	})
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 50 })
	if len(chunks) < 2 {
		t.Fatalf("want at least 2 chunks (checkpoint_limit 25), got %d", len(chunks))
	}
	chunks[0].Ack()
	late = func() {
		for _, ch := range chunks[1:] {
			ch.Ack()
		}
	}
	c.releaseHeld(context.Background(), c.client())
	commitMarked(t, c)
	firstEnd := chunks[0].Records[len(chunks[0].Records)-1].Offset + 1
	if got := groupCommitted(t, addr, "g", "t", 0); got != firstEnd {
		t.Fatalf("committed %d, want %d: only what was acked before the flush", got, firstEnd)
	}
	c.releaseHeld(context.Background(), c.client())
	commitMarked(t, c)
	if got := groupCommitted(t, addr, "g", "t", 0); got != 50 {
		t.Fatalf("committed %d after the next flush, want 50", got)
	}
}

// The commit on leaving the group (Close) flushes the barrier first, and
// commits nothing it did not cover.
func TestCloseCommitsOnlyWhatTheBarrierCovered(t *testing.T) {
	for _, failing := range []bool{false, true} {
		addr := cluster(t, kfake.SeedTopics(1, "t"))
		produceN(t, addr, "t", 0, 30)
		var fail atomic.Bool
		var flushed atomic.Int32
		fail.Store(failing)
		c := barrierConsumer(t, addr, &fail, &flushed, nil)
		ackAll(t, c, 30)
		c.Close()
		want := int64(30)
		if failing {
			want = -1
		}
		if got := groupCommitted(t, addr, "g", "t", 0); got != want {
			t.Fatalf("flush failing=%v: committed %d on close, want %d", failing, got, want)
		}
	}
}

// A flush that hangs (a state store that does not answer) is given up after
// flushTimeout: nothing is committed, and the release lock, which the revoke
// of a rebalance needs, is free again.
func TestAHangingFlushIsGivenUp(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 10)
	old := flushTimeout
	flushTimeout = 50 * time.Millisecond
	t.Cleanup(func() { flushTimeout = old })
	var fail atomic.Bool
	var flushed atomic.Int32
	c := barrierConsumer(t, addr, &fail, &flushed, nil)
	b := commitbarrier.New()
	b.Register(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	c.barrier = b
	ackAll(t, c, 10)
	done := make(chan struct{})
	go func() {
		c.releaseHeld(context.Background(), c.client())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a hanging flush was not given up")
	}
	commitMarked(t, c)
	if got := groupCommitted(t, addr, "g", "t", 0); got != -1 {
		t.Fatalf("committed %d after a flush that never finished, want nothing", got)
	}
}

// A periodic commit tells the barrier's OnCommitted listeners the offsets
// the broker accepted, not those it refused: tumbling_window stage local
// deletes the states below them.
func TestAcceptedCommitsAreToldToTheBarrier(t *testing.T) {
	b := commitbarrier.New()
	got := map[int32]int64{}
	b.OnCommitted(func(topic string, partition int32, next int64) {
		if topic == "t" {
			got[partition] = next
		}
	})
	c := NewConsumer(ConsumerConfig{}, &testLog{}, &testMetrics{})
	c.barrier = b
	req := kmsg.NewPtrOffsetCommitRequest()
	resp := kmsg.NewPtrOffsetCommitResponse()
	rt, st := kmsg.NewOffsetCommitRequestTopic(), kmsg.NewOffsetCommitResponseTopic()
	rt.Topic, st.Topic = "t", "t"
	for p, code := range []int16{0, kerr.RebalanceInProgress.Code} {
		rp, sp := kmsg.NewOffsetCommitRequestTopicPartition(), kmsg.NewOffsetCommitResponseTopicPartition()
		rp.Partition, rp.Offset = int32(p), int64(40+p)
		sp.Partition, sp.ErrorCode = int32(p), code
		rt.Partitions, st.Partitions = append(rt.Partitions, rp), append(st.Partitions, sp)
	}
	req.Topics, resp.Topics = append(req.Topics, rt), append(resp.Topics, st)
	c.onAutoCommit(nil, req, resp, nil)
	if len(got) != 1 || got[0] != 40 {
		t.Fatalf("OnCommitted heard %v, want partition 0 at 40 only (partition 1 was refused)", got)
	}
}
