package engine

import (
	"fmt"
	"testing"
)

// Emissions are forgotten once every record of the batch that emitted them
// is acknowledged, on every partition of that batch, and not before; one
// emitted by a batch without positions (a heartbeat) is kept. The snapshot
// after forgetting equals one encoded afresh, and a restore re-emits only
// what is left.
func TestForgetDeliveredKeepsWhatIsNotAcknowledged(t *testing.T) {
	cfg := ridesConfig()
	cfg.RetainEmissions = 8
	e := newEngine(t, cfg)
	r := func(part int32, off int64, minute int) Row {
		x := ride(t, fmt.Sprintf("2025-01-01T%02d:%02d:00Z", minute/60, minute%60), "A", 1, 1)
		x.Pos, x.HasPos = Position{"rides", part, off}, true
		return x
	}
	// Each batch moves event time 20 minutes on: with EmitNextBatch the
	// next batch emits the window the previous one closed.
	var seqs []int64
	batches := [][]Row{
		{r(0, 0, 0)},
		{r(0, 1, 20)},
		{r(0, 2, 40), r(1, 0, 40)}, // emits seq 1: triggered by p0 2 and p1 0
		{r(1, 1, 60)},              // seq 2: p1 1
		nil,                        // seq 3: no positions (a heartbeat)
	}
	for _, b := range batches {
		if res := e.Process(b, epoch); res.New != nil {
			seqs = append(seqs, res.New.Seq)
		}
	}
	if _, err := e.Snapshot(); err != nil { // encodings cached, as in a run
		t.Fatal(err)
	}
	retained := func() []int64 {
		var s []int64
		for _, em := range e.pending {
			s = append(s, em.Seq)
		}
		return s
	}
	if got := fmt.Sprint(retained()); got != "[1 2 3]" {
		t.Fatalf("retained %s after emissions %v, want [1 2 3]", got, seqs)
	}
	for _, c := range []struct {
		acked map[string]int64
		want  string
	}{
		{map[string]int64{"rides/0": 3}, "[1 2 3]"},                     // p1's offset 0 of seq 1 not acked
		{map[string]int64{"rides/0": 3, "rides/1": 1}, "[2 3]"},         // seq 1 delivered
		{map[string]int64{"rides/0": 3, "rides/1": 2, "x/0": 9}, "[3]"}, // seq 2; seq 3 has no positions
	} {
		e.ForgetDelivered(c.acked)
		if got := fmt.Sprint(retained()); got != c.want {
			t.Fatalf("acked %v: retained %s, want %s", c.acked, got, c.want)
		}
		assertSnapshotCachesFresh(t, e)
	}
	e2 := restarted(t, e)
	if res := e2.Process(nil, epoch); len(res.Emissions) != 1 || res.Emissions[0].Seq != 3 {
		t.Fatalf("after restore re-emitted %+v, want seq 3 only", res.Emissions)
	}
}
