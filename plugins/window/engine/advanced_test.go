package engine

import (
	"math/rand"
	"testing"
	"time"
)

// Stage 1 flags a marker Advanced whenever stage 2 may close a window on it:
// fed to one stage-2 engine record by record, every marker after which the
// engine emits a window is flagged, and flagged markers are a small part of
// all markers (the flag is what ends a Kafka transaction early).
func TestStageOneFlagsEveryMarkerThatClosesAWindow(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	cfg := twoStageConfig(StagePartial)
	cfg.IdleTimeout = 90 * time.Second
	one, err := NewPartial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	two := newEngine(t, twoStageConfig(StageMerge))
	const parts = 3
	offs := make([]int64, parts)
	progress := at(t, "2026-01-01T00:00:00Z")
	now := epoch
	off := int64(0)
	var markers, flagged, closing int
	for batch := 0; batch < 2000; batch++ {
		now = now.Add(time.Duration(rng.Intn(40)) * time.Second)
		var rows []Row
		if batch > 0 && rng.Intn(10) == 0 {
			rows = []Row{{Heartbeat: true}} // may announce idleness
		} else {
			p := int32(rng.Intn(parts - 1)) // the last partition delivers once, then goes idle
			if batch == 0 {
				p = parts - 1
			}
			for range 1 + rng.Intn(20) {
				progress += int64(rng.Intn(4)) * 1_000_000
				ts := progress - int64(rng.Intn(400))*1_000_000 // some late
				rows = append(rows, Row{TimeUs: ts, Key: `["A"]`, Values: make([]Value, 5),
					Pos: Position{Topic: "rides", Partition: p, Offset: offs[p]}, HasPos: true, Partitions: parts})
				offs[p]++
			}
		}
		res := one.Process(rows, now)
		if len(res.Advanced) != len(res.Markers) {
			t.Fatalf("%d markers, %d Advanced flags", len(res.Markers), len(res.Advanced))
		}
		for i := range res.Partials {
			two.Merge([]MergeInput{{Partial: &res.Partials[i], Pos: Position{Topic: "G", Offset: off}, HasPos: true}}, now)
			off++
		}
		for i := range res.Markers {
			out := two.Merge([]MergeInput{{Marker: &res.Markers[i], Pos: Position{Topic: "G", Offset: off}, HasPos: true}}, now)
			off++
			markers++
			if res.Advanced[i] {
				flagged++
			}
			if len(out.Emissions) > 0 {
				closing++
				if !res.Advanced[i] {
					t.Fatalf("batch %d: marker %+v closed %d windows in stage 2 but is not flagged Advanced", batch, res.Markers[i], len(out.Emissions))
				}
			}
		}
	}
	if closing < 10 {
		t.Fatalf("only %d markers closed windows: the test did not exercise the flag", closing)
	}
	if flagged*2 > markers {
		t.Errorf("%d of %d markers flagged: the flag would end nearly every transaction", flagged, markers)
	}
	t.Logf("%d markers, %d flagged Advanced, %d closed windows", markers, flagged, closing)
}
