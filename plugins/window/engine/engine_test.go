package engine

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// The note's §1.2 example: WM_late = 12:05, WM_evict = 12:11. A row at 12:07
// (window [12:05,12:10)) is kept and emitted in the same batch, with the rows
// already in that window.
func TestTwoWatermarkRuleKeepsRowBetweenLateAndEvictWatermarks(t *testing.T) {
	e := newEngine(t, ridesConfig())
	// Batch 1: max 12:15 → W = 12:05 at its end.
	e.Process([]Row{ride(t, "2025-03-14T12:06:00Z", "PARIS", 10, 1), ride(t, "2025-03-14T12:15:00Z", "PARIS", 1, 1)}, epoch)
	// Batch 2: max 12:21 → W = 12:11 at its end; late WM for batch 3 = 12:05.
	res := e.Process([]Row{ride(t, "2025-03-14T12:21:00Z", "PARIS", 1, 1)}, epoch)
	if len(res.Emissions) != 0 {
		t.Fatalf("batch 2 evicts with W=12:05 and must not emit [12:05,12:10): %+v", res.Emissions)
	}
	if wm, _ := e.Watermark(); wm != at(t, "2025-03-14T12:11:00Z")/1000 {
		t.Fatalf("watermark %d, want 12:11", wm)
	}
	res = e.Process([]Row{ride(t, "2025-03-14T12:07:00Z", "PARIS", 5, 3)}, epoch)
	if res.Status[0] != Applied {
		t.Fatalf("row at 12:07 judged %v; Spark keeps it (12:10 <= WM_late 12:05 is false)", res.Status[0])
	}
	if res.New == nil || len(res.New.Rows) != 1 {
		t.Fatalf("want one emitted row for [12:05,12:10), got %+v", res.New)
	}
	row := decoded(t, e, res.New.Rows[0])
	if row["cnt"] != 2.0 || row["revenue"] != 15.0 || row["avg_distance"] != 2.0 {
		t.Errorf("emitted %v; want cnt 2, revenue 15, avg_distance 2 (includes the 12:07 row)", row)
	}
	if row["window_start"] != "2025-03-14T12:05:00.000Z" || row["window_end"] != "2025-03-14T12:10:00.000Z" || row["city"] != "PARIS" {
		t.Errorf("emitted %v; wrong window or key", row)
	}
	// Batch 4: the late watermark is now 12:11, so a 12:08 row is late.
	res = e.Process([]Row{ride(t, "2025-03-14T12:08:00Z", "PARIS", 5, 3)}, epoch)
	if res.Status[0] != Late {
		t.Errorf("row at 12:08 after its window closed judged %v, want Late", res.Status[0])
	}
}

func TestEmissionExactlyWhenEndReachesWatermark(t *testing.T) {
	e := newEngine(t, ridesConfig())
	e.Process([]Row{ride(t, "2025-01-01T00:01:00Z", "A", 1, 1)}, epoch)
	// Max 00:14:59.999 → W = 00:04:59.999 < end 00:05: nothing to emit next batch.
	e.Process([]Row{ride(t, "2025-01-01T00:14:59.999Z", "A", 1, 1)}, epoch)
	if res := e.Process(nil, epoch); len(res.Emissions) != 0 {
		t.Fatalf("window [00:00,00:05) emitted with W one ms below its end")
	}
	// Max 00:15:00 → W = 00:05:00 = end: emitted (inclusive) on the next batch.
	e.Process([]Row{ride(t, "2025-01-01T00:15:00Z", "A", 1, 1)}, epoch)
	res := e.Process(nil, epoch)
	if res.New == nil || len(res.New.Rows) != 1 || res.New.Rows[0].StartUs != at(t, "2025-01-01T00:00:00Z") {
		t.Fatalf("window [00:00,00:05) not emitted when W == end: %+v", res.New)
	}
	if res := e.Process(nil, epoch); len(res.Emissions) != 0 {
		t.Fatalf("a window was emitted twice: %+v", res.Emissions)
	}
	if e.OpenGroups() != 2 { // [00:10,00:15) and [00:15,00:20) stay open
		t.Errorf("open groups %d, want 2", e.OpenGroups())
	}
}

func TestWatermarkNeverDecreasesAndMovesOnlyAtBatchEnd(t *testing.T) {
	e := newEngine(t, ridesConfig())
	if _, ok := e.Watermark(); ok {
		t.Fatal("watermark set before any data")
	}
	e.Process([]Row{ride(t, "2025-01-01T01:00:00Z", "A", 1, 1)}, epoch)
	w1, _ := e.Watermark()
	e.Process([]Row{ride(t, "2025-01-01T00:30:00Z", "A", 1, 1)}, epoch) // older: late? no, W_late unset
	w2, _ := e.Watermark()
	if w2 != w1 || w1 != at(t, "2025-01-01T00:50:00Z")/1000 {
		t.Errorf("watermark went %d → %d, want it to stay at 00:50", w1, w2)
	}
}

func TestDisorderWithinDelayIsAggregated(t *testing.T) {
	e := newEngine(t, ridesConfig())
	e.Process([]Row{ride(t, "2025-01-01T00:09:00Z", "A", 1, 1)}, epoch)
	e.Process([]Row{ride(t, "2025-01-01T00:12:00Z", "A", 1, 1)}, epoch)
	// 9 min out of order, within the 10 min delay.
	res := e.Process([]Row{ride(t, "2025-01-01T00:03:00Z", "A", 2, 1)}, epoch)
	if res.Status[0] != Applied {
		t.Fatalf("row within the delay judged %v", res.Status[0])
	}
}

func TestLateRowIsNotAggregated(t *testing.T) {
	e := newEngine(t, ridesConfig())
	e.Process([]Row{ride(t, "2025-01-01T01:00:00Z", "A", 1, 1)}, epoch) // W → 00:50
	e.Process(nil, epoch)                                               // late WM → 00:50
	res := e.Process([]Row{
		ride(t, "2025-01-01T00:44:59Z", "A", 100, 1),
		ride(t, "2025-01-01T00:49:59.999999Z", "A", 100, 1), // window end 00:50 <= 00:50: late (inclusive)
		ride(t, "2025-01-01T00:50:00Z", "A", 7, 1),
	}, epoch)
	if res.Status[0] != Late || res.Status[1] != Late || res.Status[2] != Applied {
		t.Fatalf("statuses %v, want [Late Late Applied]", res.Status)
	}
	if res.LateWindowEndUs[0] != at(t, "2025-01-01T00:45:00Z") || res.LateWindowEndUs[1] != at(t, "2025-01-01T00:50:00Z") {
		t.Errorf("late window ends %v", res.LateWindowEndUs)
	}
	if e.OpenGroups() != 2 {
		t.Errorf("open groups %d, want 2 (late rows opened nothing)", e.OpenGroups())
	}
}

func TestAllNullAggregatesAreNullAndCountCountsRows(t *testing.T) {
	cfg := ridesConfig()
	cfg.Aggregates = append(cfg.Aggregates,
		AggSpec{Name: "n_price", Op: OpCount, HasValue: true},
		AggSpec{Name: "lo", Op: OpMin, HasValue: true},
		AggSpec{Name: "hi", Op: OpMax, HasValue: true})
	e := newEngine(t, cfg)
	nulls := []Value{Null, Null, Null, Null, Null, Null}
	e.Process([]Row{
		{TimeUs: at(t, "2025-01-01T00:01:00Z"), Key: key(t, "A"), Values: nulls},
		{TimeUs: at(t, "2025-01-01T00:02:00Z"), Key: key(t, "A"), Values: nulls},
		{TimeUs: at(t, "2025-01-01T00:01:00Z"), Key: key(t, "B"), Values: []Value{{F: 3}, Null, Null, {F: 3}, {F: 3}, {F: 3}}},
		{TimeUs: at(t, "2025-01-01T00:03:00Z"), Key: key(t, "B"), Values: []Value{{F: -1}, {F: 4}, Null, {F: -1}, {F: -1}, {F: -1}}},
		{TimeUs: at(t, "2025-01-01T00:30:00Z"), Key: key(t, "Z"), Values: nulls},
	}, epoch)
	res := e.Process(nil, epoch)
	if res.New == nil || len(res.New.Rows) != 2 {
		t.Fatalf("want 2 rows, got %+v", res.New)
	}
	a, b := decoded(t, e, res.New.Rows[0]), decoded(t, e, res.New.Rows[1])
	for _, f := range []string{"revenue", "avg_distance", "lo", "hi"} {
		if v, ok := a[f]; !ok || v != nil {
			t.Errorf("all-null %s = %v, want null", f, v)
		}
	}
	if a["cnt"] != 2.0 || a["n_price"] != 0.0 {
		t.Errorf("count rows %v, count(value) %v; want 2 and 0", a["cnt"], a["n_price"])
	}
	if b["revenue"] != 2.0 || b["avg_distance"] != 4.0 || b["lo"] != -1.0 || b["hi"] != 3.0 || b["cnt"] != 2.0 || b["n_price"] != 2.0 {
		t.Errorf("B row %v", b)
	}
}

func TestReplayedOffsetsAreNotAppliedAgain(t *testing.T) {
	e := newEngine(t, ridesConfig())
	mk := func(off int64, ts string) Row {
		r := ride(t, ts, "A", 1, 1)
		r.Pos, r.HasPos = Position{"rides", 2, off}, true
		return r
	}
	e.Process([]Row{mk(10, "2025-01-01T00:01:00Z"), mk(11, "2025-01-01T00:02:00Z")}, epoch)
	res := e.Process([]Row{mk(11, "2025-01-01T00:02:00Z"), mk(12, "2025-01-01T00:03:00Z"), mk(9, "2025-01-01T00:04:00Z")}, epoch)
	if res.Status[0] != Replayed || res.Status[1] != Applied || res.Status[2] != Applied {
		t.Fatalf("statuses %v, want [Replayed Applied Applied] (offset 9 was never applied)", res.Status)
	}
	e.Process([]Row{ride(t, "2025-01-01T00:30:00Z", "Z", 0, 0)}, epoch)
	res = e.Process(nil, epoch)
	if got := decoded(t, e, res.New.Rows[0])["cnt"]; got != 4.0 {
		t.Errorf("cnt %v, want 4", got)
	}
}

func TestAppliedOffsetsOutOfOrderAndBounded(t *testing.T) {
	var a appliedOffsets
	for _, off := range []int64{5, 7, 6, 1, 3, 2, 10} {
		a = a.add(off)
	}
	for off, want := range map[int64]bool{0: false, 1: true, 2: true, 3: true, 4: false, 5: true, 6: true, 7: true, 8: false, 10: true, 11: false} {
		if a.contains(off) != want {
			t.Errorf("contains(%d) = %v, want %v (spans %v)", off, !want, want, a)
		}
	}
	var b appliedOffsets
	for off := int64(0); off < 1000; off += 2 { // a gap after every record
		b = b.add(off)
	}
	if len(b) > maxSpans || !b.contains(998) || b.contains(997) || b.highest() != 998 {
		t.Errorf("bounded spans: len %d, spans end %v", len(b), b[len(b)-3:])
	}
}

func TestPerPartitionWatermarkIsMinOverActivePartitions(t *testing.T) {
	cfg := ridesConfig()
	cfg.Mode, cfg.IdleTimeout = ModePerPartition, time.Minute
	e := newEngine(t, cfg)
	p := func(part int32, ts string) Row {
		r := ride(t, ts, "A", 1, 1)
		r.Pos, r.HasPos = Position{"rides", part, int64(at(t, ts))}, true
		return r
	}
	now := epoch
	e.Process([]Row{p(0, "2025-01-01T01:00:00Z"), p(1, "2025-01-01T00:20:00Z")}, now)
	if wm, _ := e.Watermark(); wm != at(t, "2025-01-01T00:10:00Z")/1000 {
		t.Fatalf("per-partition watermark %d, want min(01:00, 00:20) − 10m = 00:10", wm)
	}
	// Partition 1 goes quiet; after idle_timeout it stops holding W back.
	now = now.Add(30 * time.Second)
	e.Process([]Row{p(0, "2025-01-01T01:01:00Z")}, now)
	if wm, _ := e.Watermark(); wm != at(t, "2025-01-01T00:10:00Z")/1000 {
		t.Fatalf("watermark moved before idle_timeout: %d", wm)
	}
	now = now.Add(31 * time.Second)
	e.Process([]Row{p(0, "2025-01-01T01:02:00Z")}, now)
	if wm, _ := e.Watermark(); wm != at(t, "2025-01-01T00:52:00Z")/1000 {
		t.Fatalf("watermark %d, want 00:52 once partition 1 is idle", wm)
	}
}

func TestGlobalWatermarkIsMaxOverPartitions(t *testing.T) {
	e := newEngine(t, ridesConfig())
	a, b := ride(t, "2025-01-01T01:00:00Z", "A", 1, 1), ride(t, "2025-01-01T00:20:00Z", "A", 1, 1)
	a.Pos, a.HasPos = Position{"rides", 0, 1}, true
	b.Pos, b.HasPos = Position{"rides", 1, 1}, true
	e.Process([]Row{a, b}, epoch)
	if wm, _ := e.Watermark(); wm != at(t, "2025-01-01T00:50:00Z")/1000 {
		t.Errorf("global watermark %d, want 00:50", wm)
	}
}

func TestProcessingTimeAdvanceClosesWindowsWhenInputIsQuiet(t *testing.T) {
	cfg := ridesConfig()
	cfg.IdleTimeout = time.Minute
	e := newEngine(t, cfg)
	e.Process([]Row{ride(t, "2025-01-01T00:01:00Z", "A", 1, 1)}, epoch)
	// Heartbeats only. Before idle_timeout nothing moves.
	res := e.Process([]Row{{Heartbeat: true}}, epoch.Add(59*time.Second))
	if res.Status[0] != Tick || len(res.Emissions) != 0 {
		t.Fatalf("heartbeat before idle_timeout: %+v", res)
	}
	// Event time follows the wall clock after the last max: window end 00:05 is
	// reached by 00:01 − 10m + quiet when quiet >= 14m.
	e.Process([]Row{{Heartbeat: true}}, epoch.Add(14*time.Minute))
	res = e.Process([]Row{{Heartbeat: true}}, epoch.Add(14*time.Minute+5*time.Second))
	if res.New == nil || len(res.New.Rows) != 1 {
		t.Fatalf("quiet input did not close the last window: %+v", res)
	}
}

func TestWithoutIdleTimeoutTheLastWindowStaysOpenAsInSpark(t *testing.T) {
	e := newEngine(t, ridesConfig())
	e.Process([]Row{ride(t, "2025-01-01T00:01:00Z", "A", 1, 1)}, epoch)
	for i := 1; i < 5; i++ {
		if res := e.Process([]Row{{Heartbeat: true}}, epoch.Add(time.Duration(i)*time.Hour)); len(res.Emissions) != 0 {
			t.Fatal("window closed without new data and without idle_timeout")
		}
	}
}

func TestSubMillisecondAndPre1970(t *testing.T) {
	cfg := ridesConfig()
	cfg.Size, cfg.Delay = time.Millisecond, 0
	e := newEngine(t, cfg)
	e.Process([]Row{
		{TimeUs: -1501, Key: key(t, "A"), Values: []Value{{F: 1}, {F: 1}, Null}}, // [-2ms,-1ms)
		{TimeUs: -1000, Key: key(t, "A"), Values: []Value{{F: 2}, {F: 1}, Null}}, // [-1ms,0)
		{TimeUs: -1, Key: key(t, "A"), Values: []Value{{F: 4}, {F: 1}, Null}},    // [-1ms,0)
		{TimeUs: 5000, Key: key(t, "A"), Values: []Value{{F: 8}, {F: 1}, Null}},
	}, epoch)
	res := e.Process(nil, epoch)
	if res.New == nil || len(res.New.Rows) != 2 {
		t.Fatalf("want 2 closed 1 ms windows, got %+v", res.New)
	}
	want := []struct {
		start   int64
		revenue float64
	}{{-2000, 1}, {-1000, 6}}
	for i, w := range want {
		r := res.New.Rows[i]
		if r.StartUs != w.start || decoded(t, e, r)["revenue"] != w.revenue {
			t.Errorf("row %d: start %d revenue %v, want %d %v", i, r.StartUs, decoded(t, e, r)["revenue"], w.start, w.revenue)
		}
	}
	if got := decoded(t, e, res.New.Rows[0])["window_start"]; got != "1969-12-31T23:59:59.998Z" {
		t.Errorf("pre-1970 window_start %v", got)
	}
}

func TestHundredThousandKeys(t *testing.T) {
	e := newEngine(t, ridesConfig())
	rows := make([]Row, 100_000)
	for i := range rows {
		rows[i] = Row{TimeUs: at(t, "2025-01-01T00:01:00Z"), Key: fmt.Sprintf(`["k%06d"]`, i), Values: []Value{{F: float64(i)}, {F: 1}, Null}}
	}
	e.Process(rows, epoch)
	e.Process(rows, epoch) // each key twice
	if e.OpenGroups() != 100_000 {
		t.Fatalf("open groups %d", e.OpenGroups())
	}
	e.Process([]Row{ride(t, "2025-01-01T00:20:00Z", "Z", 0, 0)}, epoch)
	res := e.Process(nil, epoch)
	if res.New == nil || len(res.New.Rows) != 100_000 {
		t.Fatalf("emitted %d rows", len(res.New.Rows))
	}
	for _, i := range []int{0, 4242, 99_999} {
		r := decoded(t, e, res.New.Rows[i])
		if r["cnt"] != 2.0 || r["revenue"] != float64(2*i) {
			t.Errorf("key %d: %v", i, r)
		}
	}
	if e.OpenGroups() != 1 {
		t.Errorf("state not evicted: %d open", e.OpenGroups())
	}
}

func TestSnapshotRestoreContinuesAndReemitsPending(t *testing.T) {
	cfg := ridesConfig()
	e := newEngine(t, cfg)
	r := func(off int64, ts string, price float64) Row {
		x := ride(t, ts, "A", price, 1)
		x.Pos, x.HasPos = Position{"rides", 0, off}, true
		return x
	}
	e.Process([]Row{r(0, "2025-01-01T00:01:00Z", 1), r(1, "2025-01-01T00:20:00Z", 2)}, epoch)
	res := e.Process([]Row{r(2, "2025-01-01T00:21:00Z", 4)}, epoch)
	if res.New == nil || res.New.Seq != 1 {
		t.Fatalf("want emission 1, got %+v", res.New)
	}
	e2 := restarted(t, e)
	// Redelivery of offsets 0..2 (the crash happened before the output got
	// emission 1): nothing is re-applied, emission 1 comes back with its identity.
	res2 := e2.Process([]Row{r(0, "2025-01-01T00:01:00Z", 1), r(1, "2025-01-01T00:20:00Z", 2), r(2, "2025-01-01T00:21:00Z", 4)}, epoch)
	if len(res2.Emissions) != 1 || res2.Emissions[0].Seq != 1 || res2.New != nil {
		t.Fatalf("after restore want only re-emission of seq 1, got %+v", res2.Emissions)
	}
	if res2.Emissions[0].Rows[0].WindowID() != res.New.Rows[0].WindowID() {
		t.Error("re-emission changed the window id")
	}
	for i, s := range res2.Status {
		if s != Replayed {
			t.Errorf("row %d status %v, want Replayed", i, s)
		}
	}
	// State continued: [00:20,00:25) holds 2+4 and the sequence goes on at 2.
	e2.Process([]Row{r(3, "2025-01-01T00:40:00Z", 0)}, epoch)
	res3 := e2.Process(nil, epoch)
	if res3.New == nil || res3.New.Seq != 2 || decoded(t, e2, res3.New.Rows[0])["revenue"] != 6.0 {
		t.Fatalf("continued emission %+v", res3.New)
	}
	// A later, unrelated batch does not re-emit again.
	if res4 := e2.Process([]Row{r(4, "2025-01-01T00:41:00Z", 0)}, epoch); len(res4.Emissions) != 0 {
		t.Errorf("unexpected re-emission %+v", res4.Emissions)
	}
}

func TestRestoreRefusesAnotherShape(t *testing.T) {
	e := newEngine(t, ridesConfig())
	snap, _ := e.Snapshot()
	cfg := ridesConfig()
	cfg.Size = 10 * time.Minute
	if err := newEngine(t, cfg).Restore(snap); err == nil || !contains(err.Error(), "state.key") {
		t.Fatalf("restore into another window size: %v", err)
	}
	if err := newEngine(t, ridesConfig()).Restore([]byte("{")); err == nil {
		t.Fatal("restored garbage")
	}
}

func TestSumOverflowIsNull(t *testing.T) {
	e := newEngine(t, ridesConfig())
	e.Process([]Row{
		{TimeUs: 0, Key: key(t, "A"), Values: []Value{{F: math.MaxFloat64}, {F: 1}, Null}},
		{TimeUs: 1, Key: key(t, "A"), Values: []Value{{F: math.MaxFloat64}, {F: 1}, Null}},
		{TimeUs: 3_600_000_000, Key: key(t, "Z"), Values: []Value{{F: 1}, {F: 1}, Null}},
	}, epoch)
	res := e.Process(nil, epoch)
	if v := decoded(t, e, res.New.Rows[0])["revenue"]; v != nil {
		t.Errorf("overflowing sum %v, want null (JSON has no Infinity)", v)
	}
}

// State is bounded by open windows × keys: ten times more events, with windows
// closing all along, leave a snapshot of about the same size.
func TestStateDoesNotGrowWithEvents(t *testing.T) {
	size := func(n int) int {
		e := newEngine(t, ridesConfig())
		ts := at(t, "2026-03-14T00:00:00Z")
		batch := make([]Row, 0, 500)
		for i := 0; i < n; i++ {
			ts += 1_000_000
			batch = append(batch, Row{TimeUs: ts, Key: key(t, []string{"FR", "US", "DE"}[i%3]), Values: []Value{{F: 1}, {F: 1}, Null},
				Pos: Position{"rides", int32(i % 6), int64(i / 6)}, HasPos: true})
			if len(batch) == cap(batch) {
				e.Process(batch, epoch)
				batch = batch[:0]
			}
		}
		s, err := e.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return len(s)
	}
	small, big := size(20_000), size(200_000)
	if big > small*3/2 {
		t.Errorf("snapshot grew from %d to %d bytes with 10x the events", small, big)
	}
}
