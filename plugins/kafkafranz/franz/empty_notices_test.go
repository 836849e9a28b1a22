package franz

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// notices are the chunks of cs that are empty-partition notices, as
// "partition@epoch" strings, and fails on a malformed one.
func notices(t *testing.T, cs []Chunk) []string {
	t.Helper()
	var out []string
	for _, ch := range cs {
		if !ch.Notice || ch.CaughtUp {
			continue
		}
		if len(ch.Records) != 0 || !slices.Equal(ch.Empty, []int32{ch.Partition}) || !ch.Live() || ch.TopicPartitions == 0 {
			t.Fatalf("malformed notice %+v", ch)
		}
		out = append(out, fmt.Sprintf("%d@%d", ch.Partition, ch.Epoch))
	}
	return out
}

func noticed(ns []string, partition int32) bool {
	return slices.ContainsFunc(ns, func(s string) bool {
		return len(s) > 0 && s[:len(fmt.Sprint(partition))+1] == fmt.Sprint(partition)+"@"
	})
}

// A consumer with notices names each owned partition that has nothing to
// read, once per epoch, in a chunk of its own; never one with records.
func TestNoticesNameOwnedPartitionsWithNothingToReadOnce(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(3, "t"))
	produceN(t, addr, "t", 0, 5)
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.EmptyNotices = true })
	got := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 5 && len(notices(t, cs)) >= 2 })
	ns := notices(t, got)
	if len(ns) != 2 || !noticed(ns, 1) || !noticed(ns, 2) {
		t.Fatalf("notices %v, want one each for partitions 1 and 2", ns)
	}
	// More records in partition 0: no notice again (same epochs).
	produceN(t, addr, "t", 0, 3)
	got = pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 3 })
	if ns := notices(t, got); len(ns) != 0 {
		t.Fatalf("noticed again in the same epoch: %v", ns)
	}
}

// A consumer owning only partitions that never receive a record still
// returns from Poll: with their notices, before any record exists.
func TestNoticesReachAConsumerOwningOnlyEmptyPartitions(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.EmptyNotices = true })
	got := pollUntil(t, c, func(cs []Chunk) bool { return len(notices(t, cs)) >= 2 })
	if ns := notices(t, got); len(ns) != 2 || records(got) != 0 {
		t.Fatalf("notices %v, %d records; want partitions 0 and 1 noticed, no record", ns, records(got))
	}
}

// After an aborted transaction the consumer rewinds and every partition
// gets a new epoch: an empty partition is noticed again (the announcement
// made in the aborted transaction was lost with it).
func TestNoticesComeAgainAfterAnAbortedTransaction(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	produceN(t, addr, "t", 0, 4)
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) {
		cc.EmptyNotices = true
		cc.Txn = &TxnConfig{ID: "notices-1", Timeout: 10 * time.Second}
	})
	first := notices(t, pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 4 && len(notices(t, cs)) >= 1 }))
	if len(first) != 1 || !noticed(first, 1) {
		t.Fatalf("notices %v, want partition 1's", first)
	}
	if err := c.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := c.EndTxn(ctx, false); err != nil || ok {
		t.Fatalf("abort: committed=%v err=%v", ok, err)
	}
	again := notices(t, pollUntil(t, c, func(cs []Chunk) bool { return len(notices(t, cs)) >= 1 }))
	if len(again) != 1 || !noticed(again, 1) || again[0] == first[0] {
		t.Fatalf("after the abort: notices %v, want partition 1 in a new epoch (was %v)", again, first)
	}
}

// read_committed: the end is the last stable offset, listed at assignment
// (the high watermark would count an open transaction's records).
func TestNoticesReadCommittedListTheLastStableOffset(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	produceN(t, addr, "t", 0, 4)
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) {
		cc.EmptyNotices = true
		cc.IsolationLevel = "read_committed"
	})
	got := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 4 && len(notices(t, cs)) >= 1 })
	if ns := notices(t, got); len(ns) != 1 || !noticed(ns, 1) {
		t.Fatalf("notices %v, want partition 1's", ns)
	}
}

// A notice held back by EmptyNoticeDelay: while the delay runs, the waiting
// Poll has a timer for the rest of it and hands out nothing; once the clock
// has passed it and the timer fires, one notice per partition. A partition
// that delivers meanwhile is never noticed.
func TestNoticesWaitForTheirDelay(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(3, "t"))
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	type timer struct {
		d time.Duration
		f func()
	}
	timers := make(chan timer, 64)
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) {
		cc.EmptyNotices = true
		cc.EmptyNoticeDelay = time.Minute
		cc.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		cc.AfterFunc = func(d time.Duration, f func()) func() bool {
			timers <- timer{d, f}
			return func() bool { return true }
		}
	})
	polled := make(chan []Chunk, 1)
	go func() {
		cs, err := c.Poll(context.Background())
		if err != nil {
			t.Errorf("poll: %v", err)
		}
		polled <- cs
	}()
	// The Poll waits (no record, no notice due) with a timer for the delay.
	var tm timer
	select {
	case tm = <-timers:
	case cs := <-polled:
		t.Fatalf("Poll returned %d chunks (notices %v) before the delay passed", len(cs), notices(t, cs))
	case <-time.After(20 * time.Second):
		t.Fatal("no timer set for the notices the delay holds back")
	}
	if tm.d <= 0 || tm.d > time.Minute {
		t.Fatalf("timer for %v, want the rest of the 1m delay", tm.d)
	}
	// Partition 0 delivers meanwhile; the clock passes the delay; the timer fires.
	produceN(t, addr, "t", 0, 2)
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	tm.f()
	got := <-polled
	got = append(got, pollUntil(t, c, func(cs []Chunk) bool {
		return records(append(got, cs...)) >= 2 && len(notices(t, append(got, cs...))) >= 2
	})...)
	if ns := notices(t, got); len(ns) != 2 || !noticed(ns, 1) || !noticed(ns, 2) {
		t.Fatalf("notices %v, want one each for partitions 1 and 2 (0 delivered)", ns)
	}
}

// caughtUps are the chunks of cs that are caught-up notices, as
// "partition@epoch" strings, and fails on a malformed one.
func caughtUps(t *testing.T, cs []Chunk) []string {
	t.Helper()
	var out []string
	for _, ch := range cs {
		if !ch.Notice || !ch.CaughtUp {
			continue
		}
		if len(ch.Records) != 0 || ch.Empty != nil || !ch.Live() || ch.TopicPartitions == 0 || ch.Epoch <= 0 {
			t.Fatalf("malformed caught-up notice %+v", ch)
		}
		out = append(out, fmt.Sprintf("%d@%d", ch.Partition, ch.Epoch))
	}
	return out
}

// Caught-up notices come at once, whatever EmptyNoticeDelay (an hour here,
// on a clock that does not move, so no empty-partition notice comes): one
// per owned partition with nothing to read, none for a partition that
// delivers, and they announce nothing (no Empty).
func TestCaughtUpNoticesComeAtOnceAndAnnounceNothing(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(3, "t"))
	produceN(t, addr, "t", 0, 5)
	now := time.Unix(1_800_000_000, 0)
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) {
		cc.EmptyNotices = true
		cc.EmptyNoticeDelay = time.Hour
		cc.CaughtUpNotices = true
		cc.Now = func() time.Time { return now }
		cc.AfterFunc = func(time.Duration, func()) func() bool { return func() bool { return true } }
	})
	got := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 5 && len(caughtUps(t, cs)) >= 2 })
	cu := caughtUps(t, got)
	if len(cu) != 2 || !noticed(cu, 1) || !noticed(cu, 2) {
		t.Fatalf("caught-up notices %v, want one each for partitions 1 and 2", cu)
	}
	if ns := notices(t, got); len(ns) != 0 {
		t.Fatalf("empty-partition notices %v before their delay", ns)
	}
	produceN(t, addr, "t", 0, 3)
	got = pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 3 })
	if cu := caughtUps(t, got); len(cu) != 0 {
		t.Fatalf("caught-up notices again in the same epoch: %v", cu)
	}
}
