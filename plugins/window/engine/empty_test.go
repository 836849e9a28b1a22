package engine

import (
	"testing"
	"time"
)

// A partition the input says has nothing to read, and that never delivered,
// does not hold the watermark back: every record in one partition of three
// closes windows at once, as Spark's global watermark would, instead of after
// idle_timeout. A flag does not stop a partition that delivers in the same
// batch from holding it, and a partition's first row after its windows closed
// is closed early, like an idle partition's that came back.
func TestEmptyPartitionsDoNotHoldTheWatermark(t *testing.T) {
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit = ModePerPartition, EmitAfterBatch
	cfg.IdleTimeout = 5 * time.Minute // config/rides.yaml's; the clock below never moves
	row := func(p int32, off int64, ts string, empty []int32) Row {
		return Row{TimeUs: at(t, ts), Key: `["A"]`, Values: []Value{{F: 1}, {F: 1}, Null},
			Pos: Position{Topic: "rides", Partition: p, Offset: off}, HasPos: true, Partitions: 3, Empty: empty}
	}
	now := time.Unix(1000, 0)

	// Without the input's word, partitions 1 and 2 hold every window.
	e := newEngine(t, cfg)
	res := e.Process([]Row{row(0, 0, "2025-03-14T12:00:00Z", nil), row(0, 1, "2025-03-14T13:00:00Z", nil)}, now)
	if len(res.Emissions) != 0 {
		t.Fatalf("windows closed while partitions 1 and 2 were unknown: %+v", res.Emissions)
	}

	// With it, in the very first batch (its rows made the partitions known).
	e = newEngine(t, cfg)
	empty := []int32{1, 2}
	res = e.Process([]Row{row(0, 0, "2025-03-14T12:00:00Z", empty), row(0, 1, "2025-03-14T13:00:00Z", empty)}, now)
	if len(res.Emissions) != 1 || len(res.New.Rows) != 1 {
		t.Fatalf("want the 12:00 window emitted by partition 0 alone, got %+v", res.Emissions)
	}
	if h, ok := e.Holdback(now); !ok || h.Partition != 0 {
		t.Fatalf("holdback %+v %v, want partition 0 (the empty ones hold nothing)", h, ok)
	}
	// Partition 1 delivers in a batch whose rows still call it empty (fetched
	// before its records): it holds the watermark from its own progress.
	res = e.Process([]Row{row(0, 2, "2025-03-14T14:00:00Z", empty), row(1, 0, "2025-03-14T13:20:00Z", nil)}, now)
	if res.Status[1] != Applied {
		t.Fatalf("partition 1's first row: %v, want Applied", res.Status[1])
	}
	if wm, _ := e.Watermark(); wm > time.Date(2025, 3, 14, 13, 10, 0, 0, time.UTC).UnixMilli() {
		t.Fatalf("watermark %v passed partition 1's progress (13:20 - 10 min)", wm)
	}
	// Partition 2's first row, for a window partition 0 already closed.
	res = e.Process([]Row{row(2, 0, "2025-03-14T12:01:00Z", nil)}, now)
	if res.Status[0] != ClosedEarly {
		t.Fatalf("partition 2's row for an emitted window: %v, want ClosedEarly", res.Status[0])
	}
}

// With idle_timeout 0 (exact tables, no processing-time idleness) the
// input's word that a partition has nothing to read does not close windows
// either: on a real broker, a job already running while a producer wrote
// 100 000 rides partition by partition closed the first windows on
// partition 0 alone and dropped 26 432 rides as closed early (red team, 4 Dec).
func TestEmptyPartitionsHoldTheWatermarkWithoutIdleTimeout(t *testing.T) {
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit = ModePerPartition, EmitAfterBatch
	row := func(p int32, off int64, ts string, empty []int32) Row {
		return Row{TimeUs: at(t, ts), Key: `["A"]`, Values: []Value{{F: 1}, {F: 1}, Null},
			Pos: Position{Topic: "rides", Partition: p, Offset: off}, HasPos: true, Partitions: 3, Empty: empty}
	}
	now := time.Unix(1000, 0)
	e := newEngine(t, cfg)
	res := e.Process([]Row{row(0, 0, "2025-03-14T12:00:00Z", []int32{1, 2}), row(0, 1, "2025-03-14T13:00:00Z", []int32{1, 2})}, now)
	if len(res.Emissions) != 0 {
		t.Fatalf("windows closed on partition 0 alone with idle_timeout 0: %+v", res.Emissions)
	}
	// The other partitions' first rows, for the 12:00 window, count.
	res = e.Process([]Row{row(1, 0, "2025-03-14T12:01:00Z", nil), row(2, 0, "2025-03-14T12:02:00Z", nil)}, now)
	for i, s := range res.Status {
		if s != Applied {
			t.Fatalf("row %d: %v, want Applied", i, s)
		}
	}
	res = e.Process([]Row{row(1, 1, "2025-03-14T13:00:00Z", nil), row(2, 1, "2025-03-14T13:00:00Z", nil)}, now)
	if len(res.Emissions) != 1 || len(res.New.Rows) != 1 {
		t.Fatalf("want the 12:00 window once every partition passed it, got %+v", res.Emissions)
	}
	if got := decoded(t, e, res.New.Rows[0])["cnt"]; got != float64(3) {
		t.Fatalf("12:00 window cnt %v, want 3 (one ride of each partition)", got)
	}
}
