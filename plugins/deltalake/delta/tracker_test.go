package delta

import (
	"context"
	"testing"
	"time"
)

func TestTrackerOutOfOrderNeverSkipsEarlier(t *testing.T) {
	tr := NewTracker(TxnView{Seq: 4}, 1) // table already has sequences 1..4
	for v := int64(1); v <= 4; v++ {
		if !tr.Committed(v) {
			t.Fatalf("seq %d at or below the table version must count as committed", v)
		}
	}
	// 6 is committed before 5 (timed-out gap): 5 must still be writable.
	tr.MarkDone(6, 6)
	if tr.Committed(5) {
		t.Fatal("seq 5 skipped because a later sequence was committed first")
	}
	if !tr.Committed(6) {
		t.Fatal("seq 6 was committed by us and must be a duplicate now")
	}
	tr.MarkDone(5, 5)
	if tr.NextExpected() != 7 {
		t.Fatalf("next expected = %d, want 7 once the gap is filled", tr.NextExpected())
	}
}

func TestTrackerForeignWriterRaisesBaseline(t *testing.T) {
	tr := NewTracker(TxnView{Seq: -1}, 1)
	tr.MarkDone(1, 2)
	tr.Observe(TxnView{Seq: 2}) // our own commit: no change
	if tr.Committed(3) {
		t.Fatal("3 not committed yet")
	}
	tr.Observe(TxnView{Seq: 9}) // another instance committed up to 9
	if !tr.Committed(7) || tr.NextExpected() != 10 {
		t.Fatalf("after a foreign commit of 9: committed(7)=%v next=%d", tr.Committed(7), tr.NextExpected())
	}
}

func TestTrackerWaitTurn(t *testing.T) {
	ctx := context.Background()
	tr := NewTracker(TxnView{Seq: -1}, 1)
	// Seq 1 is next: no wait.
	if ok, err := tr.WaitTurn(ctx, 1, nil); !ok || err != nil {
		t.Fatalf("WaitTurn(1) = %v, %v", ok, err)
	}
	// Seq 2 waits until 1 is done.
	res := make(chan bool)
	go func() {
		ok, _ := tr.WaitTurn(ctx, 2, nil)
		res <- ok
	}()
	select {
	case <-res:
		t.Fatal("seq 2 went ahead of seq 1")
	default:
	}
	tr.MarkDone(1, 1)
	if !<-res {
		t.Fatal("seq 2 not released after seq 1 committed")
	}
	// A gap that never fills is released by the (injected) timeout.
	timeout := make(chan time.Time)
	go func() {
		ok, _ := tr.WaitTurn(ctx, 9, timeout)
		res <- ok
	}()
	close(timeout)
	if <-res {
		t.Fatal("WaitTurn reported success for a gap released by timeout")
	}
}

func TestTrackerBoundedWithOffsetHoles(t *testing.T) {
	tr := NewTracker(TxnView{Seq: -1}, 0)
	// Offsets with a hole after every batch (transaction markers).
	for i := int64(0); i < 3000; i++ {
		tr.MarkDone(i*10, i*10+5)
	}
	if n := len(tr.done); n > maxIntervals {
		t.Fatalf("%d intervals kept, want at most %d", n, maxIntervals)
	}
	if !tr.Committed(29995) || tr.Committed(29996) || !tr.Committed(3) {
		t.Fatal("committed offsets misreported after folding")
	}
}
