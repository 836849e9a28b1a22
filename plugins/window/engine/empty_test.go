package engine

import (
	"testing"
	"time"
)

// A partition the input says has nothing to read, and that never delivered,
// holds the watermark back until idle_timeout has passed since it became
// known, as any quiet partition: a job started before its producers, which
// then wrote all partitions at once, saw partition 0 first while the others
// were still listed empty at their assignment, closed its first windows on
// partition 0 alone and dropped 1.2 % of the rows (red team rt21, real
// broker). Past the timeout, partition 0 closes windows alone, and a
// partition's first row for a window emitted meanwhile is closed early,
// like an idle partition's that came back.
func TestEmptyPartitionsHoldTheWatermarkUntilIdleTimeout(t *testing.T) {
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit = ModePerPartition, EmitAfterBatch
	cfg.IdleTimeout = 5 * time.Minute // config/rides.yaml's
	row := func(p int32, off int64, ts string, empty []int32) Row {
		return Row{TimeUs: at(t, ts), Key: `["A"]`, Values: []Value{{F: 1}, {F: 1}, Null},
			Pos: Position{Topic: "rides", Partition: p, Offset: off}, HasPos: true, Partitions: 3, Empty: empty}
	}
	now := time.Unix(1000, 0)
	e := newEngine(t, cfg)
	empty := []int32{1, 2}
	res := e.Process([]Row{row(0, 0, "2025-03-14T12:00:00Z", empty), row(0, 1, "2025-03-14T13:00:00Z", empty)}, now)
	if len(res.Emissions) != 0 {
		t.Fatalf("windows closed on partition 0 alone while 1 and 2 were listed empty: %+v", res.Emissions)
	}
	// The producer's records reach partitions 1 and 2 a moment later: they count.
	res = e.Process([]Row{row(1, 0, "2025-03-14T12:01:00Z", nil), row(2, 0, "2025-03-14T12:02:00Z", empty[1:])}, now.Add(time.Second))
	for i, s := range res.Status {
		if s != Applied {
			t.Fatalf("row %d of a partition listed empty before: %v, want Applied", i, s)
		}
	}

	// A partition that stays empty holds until idle_timeout after it became known.
	e = newEngine(t, cfg)
	e.Process([]Row{row(0, 0, "2025-03-14T12:00:00Z", empty), row(0, 1, "2025-03-14T13:00:00Z", empty)}, now)
	e.Process([]Row{row(1, 0, "2025-03-14T13:00:00Z", nil)}, now)
	if res := e.Process(nil, now.Add(cfg.IdleTimeout-time.Second)); len(res.Emissions) != 0 {
		t.Fatalf("partition 2 stopped holding before idle_timeout: %+v", res.Emissions)
	}
	res = e.Process([]Row{row(0, 2, "2025-03-14T13:01:00Z", nil), row(1, 1, "2025-03-14T13:01:00Z", nil)}, now.Add(cfg.IdleTimeout))
	if len(res.Emissions) != 1 || len(res.New.Rows) != 1 {
		t.Fatalf("want the 12:00 window once partition 2 was quiet for idle_timeout, got %+v", res.Emissions)
	}
	res = e.Process([]Row{row(2, 0, "2025-03-14T12:01:00Z", nil)}, now.Add(cfg.IdleTimeout))
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
