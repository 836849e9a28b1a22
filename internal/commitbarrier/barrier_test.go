package commitbarrier

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestFlushRunsEveryRegisteredFlushInOrder(t *testing.T) {
	b := New()
	if b.Active() {
		t.Fatal("a new barrier is active")
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatalf("flush of an empty barrier: %v", err)
	}
	var ran []string
	unA := b.Register(func(context.Context) error { ran = append(ran, "a"); return nil })
	b.Register(func(context.Context) error { ran = append(ran, "b"); return nil })
	if !b.Active() {
		t.Fatal("a barrier with flushes is not active")
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ran, []string{"a", "b"}) {
		t.Fatalf("ran %v, want [a b]", ran)
	}
	unA()
	unA() // idempotent
	ran = nil
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ran, []string{"b"}) {
		t.Fatalf("after unregistering a: ran %v, want [b]", ran)
	}
}

func TestFlushReportsEveryFailureAndStillRunsTheOthers(t *testing.T) {
	b := New()
	errA, errC := errors.New("a failed"), errors.New("c failed")
	ranB := false
	b.Register(func(context.Context) error { return errA })
	b.Register(func(context.Context) error { ranB = true; return nil })
	b.Register(func(context.Context) error { return errC })
	err := b.Flush(context.Background())
	if !errors.Is(err, errA) || !errors.Is(err, errC) {
		t.Fatalf("flush error %v, want both failures", err)
	}
	if !ranB {
		t.Fatal("a failing flush kept the next one from running")
	}
}

func TestAFlushMayRegisterWithoutDeadlock(t *testing.T) {
	b := New()
	b.Register(func(context.Context) error {
		b.Register(func(context.Context) error { return nil })()
		return nil
	})
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Acked reaches every OnAcked listener until it unregisters.
func TestAckedReachesEachListenerUntilItUnregisters(t *testing.T) {
	b := New()
	var a, c []int64
	stopA := b.OnAcked(func(topic string, partition int32, next int64) { a = append(a, next) })
	b.OnAcked(func(topic string, partition int32, next int64) { c = append(c, next) })
	if b.Active() {
		t.Fatal("a listener made the barrier active: consumers would hold their acks for nothing")
	}
	b.Acked("rides", 0, 5)
	stopA()
	stopA()
	b.Acked("rides", 0, 9)
	if len(a) != 1 || a[0] != 5 || len(c) != 2 || c[1] != 9 {
		t.Fatalf("listener a got %v, want [5]; listener c got %v, want [5 9]", a, c)
	}
}

func TestCommittingReachesEachListenerUntilItUnregisters(t *testing.T) {
	b := New()
	var got []string
	stop := b.OnCommitting(func(topic string, partition int32, next, from int64) {
		got = append(got, topic+"/"+string(rune('0'+partition))+"@"+string(rune('0'+next))+" from "+string(rune('0'+from)))
	})
	b.Committing("rides", 1, 7, 3)
	stop()
	b.Committing("rides", 1, 8, 3)
	if len(got) != 1 || got[0] != "rides/1@7 from 3" {
		t.Fatalf("got %v, want [rides/1@7 from 3]", got)
	}
}

// A scoped flush runs only before commits of its topics (and for an
// unscoped Flush); an unscoped one before every commit. Membership checks
// are scoped the same way.
func TestFlushForAndConfirmForConcernOnlyTheirTopics(t *testing.T) {
	b := New()
	var ran []string
	b.RegisterFor(func(context.Context) error { ran = append(ran, "rides"); return nil },
		func(topic string) bool { return topic == "rides" })
	b.Register(func(context.Context) error { ran = append(ran, "all"); return nil })
	for _, c := range []struct {
		topics []string
		want   []string
	}{
		{[]string{"rides-repartition"}, []string{"all"}},
		{[]string{"rides-repartition", "rides"}, []string{"rides", "all"}},
		{[]string{}, []string{"all"}},
		{nil, []string{"rides", "all"}},
	} {
		ran = nil
		if err := b.FlushFor(context.Background(), c.topics); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ran, c.want) {
			t.Errorf("FlushFor(%q) ran %v, want %v", c.topics, ran, c.want)
		}
	}
	fenced := 0
	b.OnFenced(func() { fenced++ })
	b.OnConfirmFor(func(context.Context) error { return ErrFenced }, func(topic string) bool { return topic == "merge" })
	if err := b.ConfirmFor(context.Background(), []string{"rides"}); err != nil || fenced != 0 {
		t.Fatalf("ConfirmFor(rides) = %v (fenced told %d times): another topic's consumer was asked", err, fenced)
	}
	if err := b.ConfirmFor(context.Background(), []string{"merge"}); !errors.Is(err, ErrFenced) || fenced != 1 {
		t.Fatalf("ConfirmFor(merge) = %v (fenced told %d times), want ErrFenced once", err, fenced)
	}
	if err := b.Confirm(context.Background()); !errors.Is(err, ErrFenced) {
		t.Fatalf("Confirm = %v, want every consumer asked", err)
	}
}
