package engine

import (
	"bytes"
	"testing"
)

// The commits a state covers travel with it (version 3); a version-2 state,
// which has none, reads back with none, so it is not judged.
func TestCoversRoundTripAndVersion2ReadsWithoutThem(t *testing.T) {
	e := newEngine(t, ridesConfig())
	e.Process([]Row{ride(t, "2025-01-01T00:01:00Z", "A", 1, 1)}, epoch)
	if _, ok := e.Covered("rides/0"); ok {
		t.Fatal("a partition never committed is covered")
	}
	e.Cover("rides/0", 17)
	e.Cover("rides/0", 12) // offsets only grow
	e.Cover("rides/1", 3)
	data, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back := newEngine(t, ridesConfig())
	if err := back.Restore(data); err != nil {
		t.Fatal(err)
	}
	for part, want := range map[string]int64{"rides/0": 17, "rides/1": 3} {
		if got, ok := back.Covered(part); !ok || got != want {
			t.Fatalf("%s: covered %d (%v), want %d", part, got, ok, want)
		}
	}
	again, _ := back.Snapshot()
	if !bytes.Equal(again, data) {
		t.Fatal("a restored state does not encode to the same bytes")
	}

	// The same state as version 2: no covers section.
	e.covers = map[string]int64{}
	v3, _ := e.Snapshot()
	v2 := bytes.Clone(v3[:len(v3)-1]) // the empty covers count is the last byte
	v2[len(binMagic)] = stateVersionBinaryV2
	old := newEngine(t, ridesConfig())
	if err := old.Restore(v2); err != nil {
		t.Fatalf("version 2: %v", err)
	}
	if _, ok := old.Covered("rides/0"); ok {
		t.Fatal("a version-2 state is covered")
	}
	if old.OpenGroups() != 1 {
		t.Fatalf("version 2 restored %d open groups, want 1", old.OpenGroups())
	}
}
