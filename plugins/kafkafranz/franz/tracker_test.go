package franz

import (
	"math/rand/v2"
	"testing"
)

func TestTrackerCommitsOnlyContiguousPrefix(t *testing.T) {
	var tr Tracker[int64]
	a := tr.Track(9, 10)  // offsets 0..9
	b := tr.Track(19, 10) // 10..19
	c := tr.Track(24, 5)  // 20..24
	if got := tr.Pending(); got != 25 {
		t.Fatalf("pending %d, want 25", got)
	}
	if _, ok := tr.Ack(b); ok {
		t.Fatal("acking a later batch must not move the commit past an un-acked earlier one")
	}
	if got := tr.Pending(); got != 15 {
		t.Fatalf("pending %d, want 15", got)
	}
	if off, ok := tr.Ack(a); !ok || off != 19 {
		t.Fatalf("after acking the gap: commit %d ok=%v, want 19 true", off, ok)
	}
	if _, ok := tr.Ack(a); ok {
		t.Fatal("a double ack must be ignored")
	}
	if off, ok := tr.Ack(c); !ok || off != 24 {
		t.Fatalf("commit %d ok=%v, want 24 true", off, ok)
	}
	if tr.Pending() != 0 {
		t.Fatalf("pending %d after all acks", tr.Pending())
	}
}

func TestTrackerClosedIgnoresLateAcks(t *testing.T) {
	var tr Tracker[int64]
	a := tr.Track(4, 5)
	tr.Close()
	if _, ok := tr.Ack(a); ok {
		t.Fatal("ack after Close must not produce a commit")
	}
	if tr.Pending() != 0 || !tr.Closed() {
		t.Fatal("Close must clear pending")
	}
}

// Random ack orders: the commit point is always the end of the longest fully
// acked prefix, and never passes an un-acked batch.
func TestTrackerRandomOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var tr Tracker[int64]
		n := 1 + rng.IntN(30)
		toks := make([]Token[int64], n)
		for i := range n {
			toks[i] = tr.Track(int64(i), 1)
		}
		acked := make([]bool, n)
		last := int64(-1)
		for _, i := range rng.Perm(n) {
			acked[i] = true
			off, ok := tr.Ack(toks[i])
			prefix := int64(-1)
			for j := 0; j < n && acked[j]; j++ {
				prefix = int64(j)
			}
			if ok {
				if off != prefix || off <= last {
					t.Fatalf("round %d: commit %d, prefix %d, previous %d", round, off, prefix, last)
				}
				last = off
			} else if prefix != last {
				t.Fatalf("round %d: prefix moved to %d but no commit reported", round, prefix)
			}
		}
		if last != int64(n-1) {
			t.Fatalf("round %d: final commit %d, want %d", round, last, n-1)
		}
	}
}
