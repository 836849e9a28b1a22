package ownership

import (
	"sync"
	"testing"
)

func TestATopicIsUnknownUntilAnOwnerReportsIt(t *testing.T) {
	r := New()
	o := r.Owner()
	if n, known := r.Owned("rides"); known || n != 0 {
		t.Fatalf("before any report: %d, known=%v; want 0, unknown", n, known)
	}
	o.Set("other", 0, true)
	if _, known := r.Owned("rides"); known {
		t.Fatal("a report about another topic made rides known")
	}
	o.Set("rides", 2, false) // a report that owns nothing still makes it known
	if n, known := r.Owned("rides"); !known || n != 0 {
		t.Fatalf("after a revoke-only report: %d, known=%v; want 0, known", n, known)
	}
}

func TestOwnedCountsSetsAndUnsetsIdempotently(t *testing.T) {
	r := New()
	o := r.Owner()
	for _, p := range []int32{0, 1, 2, 2, 1} {
		o.Set("rides", p, true)
	}
	if n, _ := r.Owned("rides"); n != 3 {
		t.Fatalf("owned %d, want 3", n)
	}
	o.Set("rides", 1, false)
	o.Set("rides", 1, false)
	o.Set("rides", 5, false) // never owned
	if n, _ := r.Owned("rides"); n != 2 {
		t.Fatalf("owned %d after unsets, want 2", n)
	}
}

func TestOwnedIsTheUnionOverOwners(t *testing.T) {
	r := New()
	a, b := r.Owner(), r.Owner()
	a.Set("rides", 0, true)
	a.Set("rides", 1, true)
	b.Set("rides", 1, true) // the same partition in two groups counts once
	b.Set("rides", 2, true)
	if n, known := r.Owned("rides"); !known || n != 3 {
		t.Fatalf("owned %d, known=%v; want 3, known", n, known)
	}
	a.Release()
	a.Release()
	if n, _ := r.Owned("rides"); n != 2 {
		t.Fatalf("owned %d after releasing a, want 2 (b's)", n)
	}
	b.Release()
	if n, known := r.Owned("rides"); known || n != 0 {
		t.Fatalf("after releasing all owners: %d, known=%v; want 0, unknown", n, known)
	}
}

func TestConcurrentReportsAndReads(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		o := r.Owner()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				o.Set("rides", int32(i%6), i%2 == 0)
				r.Owned("rides")
			}
			for q := int32(0); q < 6; q++ {
				o.Set("rides", q, q == int32(w))
			}
		}()
	}
	wg.Wait()
	if n, _ := r.Owned("rides"); n != 4 {
		t.Fatalf("owned %d, want 4 (each worker ends owning its own partition)", n)
	}
}

func TestChangedIsClosedByEveryChange(t *testing.T) {
	r := New()
	o := r.Owner()
	for _, change := range []func(){
		func() { o.Set("rides", 0, true) },
		func() { o.Set("rides", 0, false) },
		o.Release,
	} {
		ch := r.Changed()
		select {
		case <-ch:
			t.Fatal("closed before the change")
		default:
		}
		change()
		select {
		case <-ch:
		default:
			t.Fatal("not closed by the change")
		}
	}
}

// A gain is a topic going from nothing owned in the process to something:
// the first assignment, and every return after losing all of it.
func TestGainsCountTopicsTakenBackFromNothing(t *testing.T) {
	r := New()
	a, b := r.Owner(), r.Owner()
	steps := []struct {
		do    func()
		gains uint64
	}{
		{func() { a.Set("rides", 0, true) }, 1},  // first assignment
		{func() { a.Set("rides", 1, true) }, 1},  // more of it
		{func() { b.Set("rides", 2, true) }, 1},  // another consumer, same process
		{func() { a.Set("rides", 0, false) }, 1}, // still owns some
		{func() { a.Set("rides", 1, false) }, 1},
		{func() { b.Set("rides", 2, false) }, 1}, // none left
		{func() { b.Set("rides", 3, true) }, 2},  // back from nothing
		{func() { a.Set("other", 0, true) }, 3},  // another topic's first
		{b.Release, 3},
		{func() { a.Set("rides", 3, true) }, 4},
	}
	for i, s := range steps {
		s.do()
		if g := r.Gains(); g != s.gains {
			t.Fatalf("step %d: gains %d, want %d", i, g, s.gains)
		}
	}
}

func TestOwnsAPartitionOfAnyOwner(t *testing.T) {
	r := New()
	a, b := r.Owner(), r.Owner()
	if owned, known := r.Owns("rides", 0); owned || known {
		t.Fatalf("before any report: owned=%v known=%v", owned, known)
	}
	a.Set("rides", 0, true)
	b.Set("rides", 1, true)
	b.Set("rides", 1, false)
	for p, want := range map[int32]bool{0: true, 1: false, 2: false} {
		if owned, known := r.Owns("rides", p); owned != want || !known {
			t.Fatalf("partition %d: owned=%v known=%v, want owned=%v known", p, owned, known, want)
		}
	}
	a.Release()
	b.Release()
	if owned, known := r.Owns("rides", 0); owned || known {
		t.Fatalf("after both owners closed: owned=%v known=%v", owned, known)
	}
}

// A consumer registers its topics when it connects: a process whose
// consumer got nothing from the group reads as owning 0 partitions (a hot
// standby), not as unknown.
func TestAWatchedTopicIsKnownWithNothingOwned(t *testing.T) {
	r := New()
	o := r.Owner()
	ch := r.Changed()
	o.Watch("rides")
	if n, known := r.Owned("rides"); n != 0 || !known {
		t.Fatalf("watched topic: owned %d known %v, want 0 true", n, known)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Watch did not signal a change")
	}
	o.Set("rides", 2, true)
	o.Watch("rides") // again, as a reconnect would: keeps what is owned
	if n, _ := r.Owned("rides"); n != 1 {
		t.Fatalf("owned %d after a second Watch, want 1", n)
	}
}
