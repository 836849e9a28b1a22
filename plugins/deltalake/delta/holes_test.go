package delta

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
)

// setOf is the versions of s in lo..hi, for checking interval algebra
// against plain sets.
func setOf(s intervals, lo, hi int64) map[int64]bool {
	m := map[int64]bool{}
	for v := lo; v <= hi; v++ {
		if s.contains(v) {
			m[v] = true
		}
	}
	return m
}

func randomIntervals(r *rand.Rand) intervals {
	var s intervals
	for range r.IntN(5) {
		lo := r.Int64N(40)
		s = append(s, [2]int64{lo, lo + r.Int64N(6)})
	}
	return s.normalized()
}

func TestIntervalsUnionAndMinusAgreeWithSets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a, b := randomIntervals(r), randomIntervals(r)
		sa, sb := setOf(a, -1, 50), setOf(b, -1, 50)
		u, m := map[int64]bool{}, map[int64]bool{}
		for v := range sa {
			u[v] = true
			if !sb[v] {
				m[v] = true
			}
		}
		for v := range sb {
			u[v] = true
		}
		if got := setOf(a.union(b), -1, 50); !reflect.DeepEqual(got, u) {
			t.Fatalf("%v ∪ %v = %v", a, b, a.union(b))
		}
		if got := setOf(a.minus(b), -1, 50); !reflect.DeepEqual(got, m) {
			t.Fatalf("%v \\ %v = %v", a, b, a.minus(b))
		}
		for _, n := range []intervals{a.union(b), a.minus(b)} {
			for i := 1; i < len(n); i++ {
				if n[i][0] <= n[i-1][1]+1 {
					t.Fatalf("%v not normalized", n)
				}
			}
		}
	}
}

func TestHoleEncodingRoundTripsAndRefusesWhatDoesNotFit(t *testing.T) {
	for _, iv := range [][2]int64{{1, 1}, {2, 9}, {1, MaxFencedSeq}, {MaxFencedSeq, MaxFencedSeq}} {
		v, ok := encodeHole(iv)
		if iv[1]-iv[0]+1 > MaxFenceToken {
			if ok {
				t.Fatalf("%v encoded although its length does not fit", iv)
			}
			continue
		}
		back, ok2 := decodeHole(v)
		if !ok || !ok2 || back != iv || v <= 0 {
			t.Fatalf("%v -> %d (%v) -> %v (%v)", iv, v, ok, back, ok2)
		}
	}
	for _, iv := range [][2]int64{{0, 3}, {5, 4}, {1, MaxFencedSeq + 1}} {
		if _, ok := encodeHole(iv); ok {
			t.Fatalf("%v encoded", iv)
		}
	}
	if _, ok := decodeHole(0); ok {
		t.Fatal("0 (an emptied slot) decoded as a hole")
	}
}

func TestNextHoles(t *testing.T) {
	for _, c := range []struct {
		name          string
		view          TxnView
		vs            []int64
		seq           int64
		keep, dropped intervals
	}{
		{"in order", TxnView{Seq: 3}, []int64{4, 5}, 5, nil, nil},
		{"fresh table, 3 first", TxnView{Seq: -1}, []int64{3}, 3, intervals{{1, 2}}, nil},
		{"past a gap", TxnView{Seq: 3}, []int64{5, 7}, 7, intervals{{4, 4}, {6, 6}}, nil},
		{"a hole filled", TxnView{Seq: 7, Holes: intervals{{4, 4}, {6, 6}}}, []int64{6}, 7, intervals{{4, 4}}, nil},
		{"part of a hole filled", TxnView{Seq: 9, Holes: intervals{{2, 8}}}, []int64{5}, 9, intervals{{2, 4}, {6, 8}}, nil},
		{"below the horizon", TxnView{Seq: 10, Holes: intervals{{2, 3}}}, []int64{HoleHorizon + 4}, HoleHorizon + 4,
			intervals{{11, HoleHorizon + 3}}, intervals{{2, 3}}},
	} {
		keep, dropped := nextHoles(c.view, c.vs, c.seq)
		if !reflect.DeepEqual(keep, c.keep) || !reflect.DeepEqual(dropped, c.dropped) {
			t.Errorf("%s: keep %v dropped %v, want %v and %v", c.name, keep, dropped, c.keep, c.dropped)
		}
	}
	// One gap more than the slots: the lowest is given up.
	var vs []int64
	for v := int64(2); v <= 2*(MaxHoles+1); v += 2 {
		vs = append(vs, v)
	}
	keep, dropped := nextHoles(TxnView{Seq: 0}, vs, 2*(MaxHoles+1))
	if len(keep) != MaxHoles || keep[0] != [2]int64{3, 3} || !reflect.DeepEqual(dropped, intervals{{1, 1}}) {
		t.Fatalf("%d gaps: keep %v dropped %v", MaxHoles+1, keep, dropped)
	}
}

// A writer commits 1 and 3; the table says 2 is missing, through a
// checkpoint and to another writer whose view predates it all: that writer
// skips 3, writes 2; the first one then skips 2.
func TestHolesAreInTheTableForEveryWriterAndSurviveACheckpoint(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	clock := &fixedClock{}
	cfg := TableConfig{Schema: ridesSchema(), Properties: map[string]string{PropCheckpointInterval: "2"}}
	a := newTestWriter(t, st, cfg, clock)
	z := newTestWriter(t, st, cfg, clock)
	a.opts.Fencing, z.opts.Fencing = true, true
	rec := func(seq int64) Record { return ridesRecord(t, ridesSchema(), "PARIS", int(seq)*5, seq, "app-0", seq) }
	write := func(w *Writer, seq int64) AppendResult {
		t.Helper()
		res, err := w.Append(ctx, []Record{rec(seq)})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	write(a, 1)
	if res := write(a, 3); !res.Checkpointed {
		t.Fatalf("version 2 was not checkpointed: %+v", res)
	}
	snap, err := LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if snap.CheckpointVersion != 2 {
		t.Fatalf("snapshot from checkpoint %d, want 2", snap.CheckpointVersion)
	}
	w := NewWriter(&Table{st: st, snap: snap}, WriterOptions{Fencing: true, Now: clock.Now})
	if v := w.TxnView("app-0"); v.Seq != 3 || !reflect.DeepEqual(v.Holes, intervals{{2, 2}}) || v.Contains(2) || !v.Contains(3) {
		t.Fatalf("view read from the checkpoint: %+v, want seq 3 with hole 2", v)
	}
	if res := write(z, 3); res.RowsWritten != 0 || res.RowsSkipped != 1 {
		t.Fatalf("3, written by another writer, written again: %+v", res)
	}
	if res := write(z, 2); res.RowsWritten != 1 {
		t.Fatalf("the hole 2 was not written: %+v", res)
	}
	if res := write(a, 2); res.RowsWritten != 0 || res.RowsSkipped != 1 {
		t.Fatalf("2 written twice: %+v", res)
	}
	if v := a.TxnView("app-0"); v.Seq != 3 || len(v.Holes) != 0 {
		t.Fatalf("view at the end: %+v, want seq 3 and no hole", v)
	}
	rows, err := ReadAllRows(ctx, st)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows (%v), want sequences 1..3 once each", len(rows), err)
	}
}
