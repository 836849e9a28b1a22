package engine

import (
	"testing"
	"time"
)

// stageOneToTwo runs rows through stage 1 and the result, through its wire
// form, through stage 2 (one internal partition); it returns the emitted
// rows and stage 2's statuses of the partials.
func stageOneToTwo(t *testing.T, p1 *PartialEngine, e *Engine, rows []Row) (emitted int, statuses []Status) {
	t.Helper()
	res := p1.Process(rows, epoch)
	var in []MergeInput
	for i := range res.Partials {
		b, err := EncodePartial(&res.Partials[i])
		if err != nil {
			t.Fatal(err)
		}
		p, err := DecodePartial(b)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, MergeInput{Partial: p})
	}
	for i := range res.Markers {
		b, err := EncodeMarker(&res.Markers[i])
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodeMarker(b)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, MergeInput{Marker: m})
	}
	out := e.Merge(in, epoch)
	for _, em := range out.Emissions {
		emitted += len(em.Rows)
	}
	return emitted, out.Status[:len(res.Partials)]
}

// A stage-1 notice (a heartbeat row naming partitions with nothing to read)
// is announced to stage 2, which then stops waiting for those partitions:
// records in partition 0 of 3 alone close windows, without waiting for
// idle_timeout (an hour here; the clock never moves). A partition that
// delivers later holds the watermark again from its own progress, and its
// rows for windows emitted meanwhile are closed early.
func TestEmptyAnnouncementsLetStageTwoClose(t *testing.T) {
	p0 := func(off int64, ts string) Row {
		r := ride(t, ts, "PARIS", 1, 1)
		r.Pos, r.HasPos, r.Partitions = Position{Topic: "rides", Partition: 0, Offset: off}, true, 3
		return r
	}
	data := []Row{p0(0, "2025-03-14T12:00:00Z"), p0(1, "2025-03-14T12:30:00Z"), p0(2, "2025-03-14T13:00:00Z")}
	notice := Row{Heartbeat: true, Pos: Position{Topic: "rides", Partition: 1}, Partitions: 3, Empty: []int32{1, 2}}

	newStages := func() (*PartialEngine, *Engine) {
		p1, err := NewPartial(noticeConfig())
		if err != nil {
			t.Fatal(err)
		}
		return p1, newEngine(t, twoStageConfig(StageMerge))
	}
	// Without the notice, partitions 1 and 2 hold every window.
	p1, e := newStages()
	if n, _ := stageOneToTwo(t, p1, e, data); n != 0 {
		t.Fatalf("%d rows emitted while partitions 1 and 2 never reported", n)
	}

	p1, e = newStages()
	if n, _ := stageOneToTwo(t, p1, e, data); n != 0 {
		t.Fatal("emitted before the notice")
	}
	res := p1.Process([]Row{notice}, epoch)
	if len(res.Markers) != 2 || !res.Markers[0].Empty || res.Markers[0].Partition != 1 || res.Markers[1].Partition != 2 ||
		res.Markers[0].Offset != -1 || !res.Advanced[0] || !res.Advanced[1] {
		t.Fatalf("markers %+v advanced %v, want empty announcements of 1 and 2, flagged advanced", res.Markers, res.Advanced)
	}
	if n, _ := stageOneToTwo(t, p1, e, []Row{notice}); n == 0 {
		t.Fatal("no window closed once partitions 1 and 2 were announced empty")
	}
	wm, _ := e.Watermark()
	if want := time.Date(2025, 3, 14, 12, 50, 0, 0, time.UTC).UnixMilli(); wm != want {
		t.Fatalf("watermark %d, want partition 0's 13:00 - 10 min = %d", wm, want)
	}

	// Partition 1's first records: one for an emitted window (closed early
	// in stage 2), one that moves it; from now on it holds the watermark.
	r1 := func(off int64, ts string) Row {
		r := ride(t, ts, "LYON", 1, 1)
		r.Pos, r.HasPos, r.Partitions = Position{Topic: "rides", Partition: 1, Offset: off}, true, 3
		return r
	}
	_, st := stageOneToTwo(t, p1, e, []Row{r1(0, "2025-03-14T12:01:00Z"), r1(1, "2025-03-14T13:30:00Z")})
	if len(st) != 2 || st[0] != ClosedEarly {
		t.Fatalf("partition 1's row for an emitted window: %v, want ClosedEarly first", st)
	}
	if n, _ := stageOneToTwo(t, p1, e, []Row{p0(3, "2025-03-14T15:00:00Z")}); n == 0 {
		t.Fatal("partition 0 moving on to 15:00 did not close the 13:00 window (partition 1 at 13:30 allows 13:20)")
	}
	if wm2, _ := e.Watermark(); wm2 != time.Date(2025, 3, 14, 13, 20, 0, 0, time.UTC).UnixMilli() {
		t.Fatalf("watermark %d, want partition 1's 13:30 - 10 min: it holds the watermark again", wm2)
	}
	// A notice for partition 1 again (a new assignment, read to its end):
	// stage 1 knows its progress and does not announce it; stage 2 would
	// ignore it anyway.
	if res := p1.Process([]Row{{Heartbeat: true, Pos: Position{Topic: "rides"}, Partitions: 3, Empty: []int32{1}}}, epoch); len(res.Markers) != 0 {
		t.Fatalf("announced a partition that delivered: %+v", res.Markers)
	}
}

// noticeConfig is stage 1 with idle_timeout on (an hour): notices are
// announced only then.
func noticeConfig() Config {
	cfg := twoStageConfig(StagePartial)
	cfg.IdleTimeout = time.Hour
	return cfg
}

// With idle_timeout 0 (exact tables) stage 1 announces no empty partition,
// as stage full then waits for every partition: a partition filled after
// the others must not have its first windows closed on theirs.
func TestStageOneAnnouncesNoEmptyPartitionWithoutIdleTimeout(t *testing.T) {
	p1, err := NewPartial(twoStageConfig(StagePartial)) // idle_timeout 0
	if err != nil {
		t.Fatal(err)
	}
	notice := Row{Heartbeat: true, Pos: Position{Topic: "rides", Partition: 1}, Partitions: 3, Empty: []int32{1, 2}}
	if res := p1.Process([]Row{notice}, epoch); len(res.Markers) != 0 {
		t.Fatalf("announced %+v with idle_timeout 0", res.Markers)
	}
	p1, err = NewPartial(noticeConfig())
	if err != nil {
		t.Fatal(err)
	}
	if res := p1.Process([]Row{notice}, epoch); len(res.Markers) != 2 {
		t.Fatalf("markers %+v with idle_timeout on, want partitions 1 and 2 announced", res.Markers)
	}
}

// Stage 2 takes an empty announcement only for a partition it has seen no
// progress of (its offset, -1, is below any marker's): one from an
// ex-owner, or one that a stage 1 without the partition's state sends after
// the partition delivered elsewhere, must not leave a partition with records
// out of the watermark.
func TestStageTwoIgnoresAnEmptyAnnouncementAfterProgress(t *testing.T) {
	e := newEngine(t, twoStageConfig(StageMerge))
	const minute = 60_000
	start := Partial{StartUs: 0, Key: `["PARIS"]`, Rows: 1, Aggs: make([]acc, len(twoStageConfig(StageMerge).Aggregates))}
	for i := range start.Aggs {
		start.Aggs[i].add(Value{F: 1})
	}
	mark := func(m Marker) int {
		return len(e.Merge([]MergeInput{{Marker: &m}}, epoch).Emissions)
	}
	e.Merge([]MergeInput{{Partial: &start}}, epoch)
	mark(Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: 60 * minute, Offset: 500})
	mark(Marker{Topic: "rides", Partition: 1, Partitions: 2, MaxMs: minute, Offset: 3})
	if n := mark(AnnounceEmpty("rides", 1, 2)); n != 0 {
		t.Fatal("an empty announcement of a partition with progress left it out: the window closed")
	}
	if p := e.wm.Parts[Position{Topic: "rides", Partition: 1}.Key()]; p.Idle || p.MarkOffset != 3 {
		t.Fatalf("partition 1 after the announcement: %+v", p)
	}
	// And an announcement survives a snapshot until the partition reports.
	e = newEngine(t, twoStageConfig(StageMerge))
	e.Merge([]MergeInput{{Partial: &start}}, epoch)
	mark(AnnounceEmpty("rides", 1, 2))
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e = newEngine(t, twoStageConfig(StageMerge))
	if err := e.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if n := mark(Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: 60 * minute, Offset: 500}); n == 0 {
		t.Fatal("partition 1, announced empty before the snapshot, held the window after the restore")
	}
}
