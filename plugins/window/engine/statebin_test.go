package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// mainRidesConfig is config/rides.yaml's window as main (a7b8ef6) ran it when
// it wrote testdata/state-v1-main-a7b8ef6.json (tests/perf, 2 M rides): the
// aggregates in name order, as the processor's config sorts them.
func mainRidesConfig() Config {
	return Config{
		Size: 5 * time.Minute, Delay: 10 * time.Minute, Mode: ModePerPartition, IdleTimeout: 5 * time.Minute,
		GroupNames: []string{"city"},
		Aggregates: []AggSpec{
			{Name: "avg_distance", Op: OpAvg, HasValue: true},
			{Name: "cnt", Op: OpCount},
			{Name: "revenue", Op: OpSum, HasValue: true},
		},
		RetainEmissions: 16,
	}
}

// busyEngine has every part of the state filled: several open windows and
// partitions, applied offsets with gaps, retained emissions with triggers,
// sums of several partials, -0, an all-null aggregate, an overflowed sum, an
// idle partition and a known topic size.
func busyEngine(t testing.TB) *Engine {
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit = ModePerPartition, EmitAfterBatch
	e := newEngine(t, cfg)
	base := at(t, "2025-01-01T00:00:00Z")
	var rows []Row
	for i := 0; i < 3000; i++ {
		off := int64(i / 3)
		if i%97 == 0 {
			off += 5 // gaps in the applied offsets
		}
		price := Value{F: float64(i%50) + 0.1}
		if i%11 == 0 {
			price = Value{F: math.Copysign(0, -1)}
		}
		rows = append(rows, Row{TimeUs: base + int64(i)*700_000, Key: key(t, []string{"FR", "US", "DE", "MG"}[i%4]),
			Values: []Value{price, Null, Null}, Pos: Position{"rides", int32(i % 3), off}, HasPos: true, Partitions: 3})
		if len(rows) == 250 {
			e.Process(rows, epoch)
			rows = rows[:0]
		}
	}
	e.Process(rows, epoch)
	for _, groups := range e.open {
		for _, g := range groups {
			g.Aggs[0].Sum.add(math.MaxFloat64)
			g.Aggs[0].Sum.add(math.MaxFloat64) // overflow
			break
		}
	}
	for _, p := range e.wm.Parts {
		p.Idle = true
		break
	}
	if len(e.pending) == 0 || len(e.open) < 2 || len(e.wm.Topics) == 0 {
		t.Fatalf("state not busy enough: %d pending, %d windows", len(e.pending), len(e.open))
	}
	return e
}

// The binary state restores to the same state: its version-1 (JSON) form,
// which spells out every field, is the same before and after.
func TestBinaryStateRoundTrips(t *testing.T) {
	e := busyEngine(t)
	bin, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bin, []byte(binMagic)) {
		t.Fatalf("snapshot is not binary: %.20q", bin)
	}
	assertRestoresAsIs(t, e, bin)
	js, _ := e.snapshotJSON()
	t.Logf("binary %d bytes, JSON %d", len(bin), len(js))
}

// A state written by main before the binary format (version 1, JSON) loads,
// loses nothing (its JSON form is rewritten byte for byte), and carries on
// exactly as the same state read back from the binary format does.
func TestRestoresVersion1StateWrittenByMain(t *testing.T) {
	v1, err := os.ReadFile("testdata/state-v1-main-a7b8ef6.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mainRidesConfig()
	fromV1 := newEngine(t, cfg)
	if err := fromV1.Restore(v1); err != nil {
		t.Fatal(err)
	}
	if js, _ := fromV1.snapshotJSON(); !bytes.Equal(js, bytes.TrimSpace(v1)) {
		t.Fatalf("version-1 state changed on the way through:\n got %.300s\nwant %.300s", js, v1)
	}
	bin, _ := fromV1.Snapshot()
	fromV2 := newEngine(t, cfg)
	if err := fromV2.Restore(bin); err != nil {
		t.Fatal(err)
	}
	// Redelivery (replayed rows re-emit), new rows, then a batch that closes windows.
	mx, _ := fromV1.MaxEventMs()
	next := func(e *Engine) Result {
		return e.Process([]Row{
			{TimeUs: 1773485000000000, Key: `["LYON"]`, Values: []Value{{F: 2}, Null, {F: 9.5}}, Pos: Position{"perf_rss_27790", 0, 0}, HasPos: true, Partitions: 6},
			{TimeUs: mx*1000 + 1, Key: `["LYON"]`, Values: []Value{{F: 2}, Null, {F: 9.5}}, Pos: Position{"perf_rss_27790", 0, 1 << 40}, HasPos: true, Partitions: 6},
		}, epoch)
	}
	r1, r2 := next(fromV1), next(fromV2)
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("results differ after restoring version 1 and 2:\n%+v\n%+v", r1, r2)
	}
	if len(r1.Emissions) == 0 {
		t.Fatal("no re-emission after a restore: the test does not exercise the pending emissions")
	}
	s1, _ := fromV1.Snapshot()
	s2, _ := fromV2.Snapshot()
	if !bytes.Equal(s1, s2) {
		t.Fatal("states differ after the same batch")
	}
}

// Every truncation and a sample of byte flips of a binary state are refused
// or restore to an engine that runs; none panics.
func TestDamagedBinaryStateIsRefused(t *testing.T) {
	good, _ := busyEngine(t).Snapshot()
	assertCutStatesRefused(t, good, ridesConfig())
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit = ModePerPartition, EmitAfterBatch
	for i := len(binMagic); i < len(good); i += 7 {
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		e := newEngine(t, cfg)
		if e.Restore(b) == nil {
			e.Process([]Row{ride(t, "2025-01-01T02:00:00Z", "A", 1, 1), {Heartbeat: true}}, epoch)
			if _, err := e.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRestoreNamesAnUnknownVersion(t *testing.T) {
	w := binWriter{}
	w.b = append(w.b, binMagic...)
	w.uvarint(5)
	err := newEngine(t, ridesConfig()).Restore(w.b)
	if err == nil || !strings.Contains(err.Error(), "state version 5, this build reads 1, 2, 3 and 4") {
		t.Fatalf("version 5: %v", err)
	}
	for _, v := range []string{"2", "3"} {
		if err := newEngine(t, ridesConfig()).Restore([]byte(`{"version":` + v + `}`)); err == nil {
			t.Fatalf("a JSON state claiming version %s was restored", v)
		}
	}
}

// assertSnapshotCachesFresh fails unless e's snapshot, made from the
// encodings Snapshot keeps between calls (windows whose groups did not
// change, retained emissions), is byte for byte the one encoded from
// scratch. The caches are left as they were, so that a stale one would go
// on to fail a later call.
func assertSnapshotCachesFresh(t *testing.T, e *Engine) {
	t.Helper()
	cached, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	open, pendingBin, pendingEnc := e.openEnc, e.pendingBin, e.pendingEnc
	e.openEnc, e.pendingBin, e.pendingEnc = nil, nil, make([][]byte, len(e.pending))
	cold, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e.openEnc, e.pendingBin, e.pendingEnc = open, pendingBin, pendingEnc
	if !bytes.Equal(cached, cold) {
		t.Fatalf("snapshot from the kept encodings (%d bytes) differs from one encoded afresh (%d bytes): a window or emission changed without dropping its encoding", len(cached), len(cold))
	}
}

// A state restored with more retained emissions than this build keeps
// (retain_emissions lowered between runs) trims them at the next emission
// and snapshots them all again: the per-emission encodings follow the
// retained list from the restore on.
func TestRestoredEmissionsTrimmedToAFewerRetainEmissions(t *testing.T) {
	cfg := ridesConfig()
	cfg.RetainEmissions = 16
	e := newEngine(t, cfg)
	t0 := at(t, "2026-03-14T00:00:00Z")
	step := cfg.Size.Microseconds()
	row := func(w int64) []Row {
		return []Row{{TimeUs: t0 + w*step, Key: `["C"]`, Values: []Value{{F: 1}, {F: 2}, Null}}}
	}
	for w := int64(0); w < 20; w++ {
		e.Process(row(w), time.Now())
	}
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	cfg.RetainEmissions = 2
	f := newEngine(t, cfg)
	if err := f.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if len(f.pending) != 16 {
		t.Fatalf("restored %d retained emissions, want 16", len(f.pending))
	}
	f.Process(row(20), time.Now()) // closes a window: one more emission, trimmed to 2
	if len(f.pending) != 2 {
		t.Fatalf("%d retained emissions after the trim, want 2", len(f.pending))
	}
	assertSnapshotCachesFresh(t, f)
}

// snapshotJSON is the version-1 (JSON) encoding that builds before the
// binary formats wrote (stage merge until session 37): every field spelled
// out, so tests compare states through it.
func (e *Engine) snapshotJSON() ([]byte, error) {
	s := snapshot{Version: stateVersion, Shape: e.shape(), Watermark: e.wm, Seq: e.seq, Applied: e.applied, Pending: e.pending, Local: e.local}
	for start, groups := range e.open {
		s.Windows = append(s.Windows, windowState{StartUs: start, Groups: groups})
	}
	sort.Slice(s.Windows, func(i, j int) bool { return s.Windows[i].StartUs < s.Windows[j].StartUs })
	return json.Marshal(&s)
}

// assertRestoresAsIs fails unless snap, e's snapshot, restores to e's state
// field for field (compared in the JSON form, which spells out every field,
// stage merge's local sources and their held bundles too) and encodes again
// to the same bytes.
func assertRestoresAsIs(t *testing.T, e *Engine, snap []byte) {
	t.Helper()
	want, err := e.snapshotJSON()
	if err != nil {
		t.Fatal(err)
	}
	back := newEngine(t, e.cfg)
	if err := back.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got, _ := back.snapshotJSON(); !bytes.Equal(got, want) {
		t.Fatalf("restored state differs:\n got %.600s\nwant %.600s", got, want)
	}
	if again, _ := back.Snapshot(); !bytes.Equal(again, snap) {
		t.Fatal("a restored state encodes to other bytes")
	}
}

// assertCutStatesRefused fails unless every truncation of the binary state
// good, and good with a byte after its end, is refused by an engine of cfg.
func assertCutStatesRefused(t *testing.T, good []byte, cfg Config) {
	t.Helper()
	for n := 0; n < len(good); n++ {
		if err := newEngine(t, cfg).Restore(good[:n]); err == nil {
			t.Fatalf("a state cut at %d of %d bytes was restored", n, len(good))
		}
	}
	bad := append(bytes.Clone(good), 0)
	if err := newEngine(t, cfg).Restore(bad); err == nil || !strings.Contains(err.Error(), "after the end") {
		t.Fatalf("trailing bytes: %v", err)
	}
}
