package engine

import (
	"testing"
	"time"
)

// The partition that sets the merge watermark is named: unreported first,
// then the lowest max event time, ties to the lowest partition; an idle one
// is left out, as it is left out of the watermark.
func TestHoldbackNamesThePartitionThatSetsTheWatermark(t *testing.T) {
	e := newEngine(t, twoStageConfig(StageMerge))
	now := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	if _, ok := e.Holdback(now); ok {
		t.Fatal("a holdback before any marker")
	}
	ms := func(s string) int64 { return at(t, s) / 1000 }
	mark := func(p int32, ts string, idle bool) {
		e.Merge([]MergeInput{{Marker: &Marker{Topic: "rides", Partition: p, Partitions: 3, MaxMs: ms(ts), Idle: idle}}}, now)
	}
	want := func(p int32, reported bool, maxTs, leadTs string) {
		t.Helper()
		h, ok := e.Holdback(now)
		if !ok || h.Topic != "rides" || h.Partition != p || h.Reported != reported || (reported && h.MaxMs != ms(maxTs)) || h.LeadMs != ms(leadTs) {
			t.Fatalf("holdback = %+v %v, want rides/%d reported=%v max %s lead %s", h, ok, p, reported, maxTs, leadTs)
		}
		wm, set := e.Watermark()
		if reported != set || (set && wm != h.MaxMs-10*time.Minute.Milliseconds()) {
			t.Fatalf("watermark %d (set %v) is not the holdback's max − delay %+v", wm, set, h)
		}
	}
	mark(1, "2026-03-14T00:30:00Z", false)
	want(0, false, "", "2026-03-14T00:30:00Z") // partitions 0 and 2 have not reported: 0 is named
	mark(0, "2026-03-14T00:20:00Z", false)
	want(2, false, "", "2026-03-14T00:30:00Z")
	mark(2, "2026-03-14T00:20:00Z", false)
	want(0, true, "2026-03-14T00:20:00Z", "2026-03-14T00:30:00Z") // tie between 0 and 2
	mark(0, "2026-03-14T00:40:00Z", false)
	want(2, true, "2026-03-14T00:20:00Z", "2026-03-14T00:40:00Z")
	mark(2, "2026-03-14T00:20:00Z", true) // idle: left out
	want(1, true, "2026-03-14T00:30:00Z", "2026-03-14T00:40:00Z")
}
