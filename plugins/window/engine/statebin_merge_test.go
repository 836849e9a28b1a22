package engine

import (
	"bytes"
	"fmt"
	"testing"
)

// busyMergeEngine is a stage-merge engine with open windows of two keys,
// applied offsets, a source whose next bundle came early (held) and half of
// a split bundle (a chunk waiting for its sibling): every part of version 4.
func busyMergeEngine(t testing.TB) *Engine {
	t.Helper()
	e := newEngine(t, twoStageConfig(StageMerge))
	const min5 = int64(300_000_000)
	start := int64(1_741_956_000_000_000)
	partial := func(k int64, key string, price float64) Partial {
		aggs := make([]acc, 5)
		for i := range aggs {
			aggs[i].add(Value{F: price * float64(i+1)})
		}
		return Partial{StartUs: start + k*min5, Key: key, Rows: 1, Aggs: aggs}
	}
	src := func(p int32, off int64) Marker {
		return Marker{Topic: "rides", Partition: p, Partitions: 2, MaxMs: (start + 2*min5) / 1000, Offset: off}
	}
	in := []MergeInput{
		{Bundle: &Bundle{Source: src(0, 10), From: noWatermark, To: start + min5, Shards: 1,
			Partials: []Partial{partial(0, `["LYON"]`, 1.5), partial(0, `["PARIS"]`, -0.0)}}},
		// Source 0's next bundle before the one it follows: held.
		{Bundle: &Bundle{Source: src(0, 30), From: start + 2*min5, To: start + 3*min5, Shards: 1,
			Partials: []Partial{partial(2, `["LYON"]`, 7)}}},
		// Part 0 of 2 of source 1's bundle: a chunk.
		{Bundle: &Bundle{Source: src(1, 12), From: noWatermark, To: start + 2*min5, Shards: 1, Part: 0, Parts: 2,
			Partials: []Partial{partial(1, `["NICE"]`, 3.25)}}},
	}
	for i := range in {
		in[i].Pos, in[i].HasPos = Position{Topic: "G-repartition", Partition: 0, Offset: int64(i)}, true
	}
	e.Merge(in, epoch)
	ls0, ls1 := e.local["rides/0"], e.local["rides/1"]
	if ls0 == nil || len(ls0.Held) != 1 || ls1 == nil || len(ls1.Chunks) != 1 || e.OpenGroups() == 0 {
		t.Fatalf("merge state not busy enough: local %+v, %d open groups", e.local, e.OpenGroups())
	}
	return e
}

func TestMergeStateIsBinaryAndRoundTrips(t *testing.T) {
	e := busyMergeEngine(t)
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(snap, []byte(binMagic)) || snap[len(binMagic)] != stateVersionBinaryLocal {
		t.Fatalf("stage merge's snapshot is not version %d: %.20q", stateVersionBinaryLocal, snap)
	}
	assertRestoresAsIs(t, e, snap)
	js, _ := e.snapshotJSON()
	t.Logf("version 4: %d bytes, JSON: %d", len(snap), len(js))
}

// A stage-merge state that a build before version 4 wrote (JSON) restores
// to the same state, which the next snapshot writes as version 4.
func TestMergeStateWrittenAsJSONUpgrades(t *testing.T) {
	e := busyMergeEngine(t)
	v1, err := e.snapshotJSON()
	if err != nil {
		t.Fatal(err)
	}
	up := newEngine(t, e.cfg)
	if err := up.Restore(v1); err != nil {
		t.Fatal(err)
	}
	if js, _ := up.snapshotJSON(); !bytes.Equal(js, v1) {
		t.Fatalf("JSON merge state changed on the way through:\n got %.400s\nwant %.400s", js, v1)
	}
	got, _ := up.Snapshot()
	want, _ := e.Snapshot()
	if !bytes.Equal(got, want) {
		t.Fatal("a merge state upgraded from JSON encodes to other bytes than the same state never written as JSON")
	}
}

// Every truncation of a version-4 state, and a sweep of byte flips, is
// refused or restores to an engine that snapshots again; none panics.
func TestDamagedMergeStateIsRefused(t *testing.T) {
	good, _ := busyMergeEngine(t).Snapshot()
	cfg := twoStageConfig(StageMerge)
	assertCutStatesRefused(t, good, cfg)
	for i := len(binMagic); i < len(good); i += 3 {
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		e := newEngine(t, cfg)
		if e.Restore(b) == nil {
			if _, err := e.Snapshot(); err != nil {
				t.Fatalf("flip at %d: restored, then: %v", i, err)
			}
		}
	}
}

// BenchmarkMergeSnapshotManyKeys: one internal partition's stage-merge state
// with 3 open windows of 20 000 keys (the (city, userId) job of
// docs/benchmarks.md), each batch adding to a few keys of the newest window
// before the snapshot stage merge writes after it; version 4 against the
// JSON (version 1) written before session 37, in one run:
//
//	go test ./plugins/window/engine/ -run '^$' -bench MergeSnapshotManyKeys -benchmem
func BenchmarkMergeSnapshotManyKeys(b *testing.B) {
	e := newEngine(b, twoStageConfig(StageMerge))
	const keys = 20_000
	t0 := at(b, "2026-03-14T00:00:00Z")
	partial := func(w, k int) Partial {
		aggs := make([]acc, 5)
		for j := range aggs {
			aggs[j].add(Value{F: 12.75 + float64(k%13) + float64(j)})
		}
		return Partial{StartUs: t0 + int64(w)*300_000_000, Key: fmt.Sprintf(`["C%d",%d]`, k%5, k), Rows: 1, Aggs: aggs}
	}
	var ps []Partial
	for w := range 3 {
		for k := range keys {
			ps = append(ps, partial(w, k))
		}
	}
	pos := func(off int) Position { return Position{Topic: "G-repartition", Offset: int64(off)} }
	src := Marker{Topic: "rides", Partition: 0, Partitions: 1, MaxMs: t0/1000 + 14*60_000, Offset: 1}
	e.Merge([]MergeInput{{Bundle: &Bundle{Source: src, From: noWatermark, To: t0 + 3*300_000_000, Shards: 1, Partials: ps}, Pos: pos(0), HasPos: true}}, epoch)
	if e.OpenGroups() != 3*keys {
		b.Fatalf("setup: %d open groups", e.OpenGroups())
	}
	run := func(b *testing.B, snapshot func() ([]byte, error)) {
		var n, off int
		for b.Loop() {
			off++
			in := make([]MergeInput, 8)
			for i := range in {
				p := partial(2, (off*8+i)%keys) // keys already open: the state keeps its size
				in[i] = MergeInput{Partial: &p, Pos: pos(off*8 + i), HasPos: true}
			}
			e.Merge(in, epoch)
			data, err := snapshot()
			if err != nil {
				b.Fatal(err)
			}
			n = len(data)
		}
		b.ReportMetric(float64(n), "state_bytes")
	}
	b.Run("binary_v4", func(b *testing.B) { run(b, e.Snapshot) })
	b.Run("json_v1", func(b *testing.B) { run(b, e.snapshotJSON) })
}
