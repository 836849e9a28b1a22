package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// randLocalState is a state as SnapshotPartition would see it: its open
// windows apart (window start → key → group), some windows empty.
func randLocalState(r *rand.Rand) (localState, map[int64]map[string]*group) {
	st := localState{Version: localStateVersionBinary, Config: randString(r), Marker: randMarker(r), Closed: r.Int63() - r.Int63()}
	if r.Intn(2) == 0 {
		st.Fence, st.Commit = r.Int63n(100), r.Int63n(1<<30)
	}
	for range r.Intn(3) {
		s := sentBundles{Trigger: r.Int63n(1e9), Flush: r.Intn(2) == 0}
		for range r.Intn(3) {
			b := randBundle(r)
			for i := range b.Partials {
				noLegacy(b.Partials[i].Aggs)
			}
			s.Bundles = append(s.Bundles, b)
		}
		st.Sent = append(st.Sent, s)
	}
	open := map[int64]map[string]*group{}
	for range r.Intn(4) {
		keys := map[string]*group{}
		for _, p := range randPartials(r) {
			keys[p.Key] = &group{Rows: p.Rows, Aggs: noLegacy(p.Aggs)}
		}
		open[r.Int63()-r.Int63()] = keys
	}
	return st, open
}

// normalized is st with its open windows as the decoder lists them.
func normalized(st localState, open map[int64]map[string]*group) localState {
	st.Open = nil
	for _, start := range slices.Sorted(maps.Keys(open)) {
		for _, k := range slices.Sorted(maps.Keys(open[start])) {
			g := open[start][k]
			st.Open = append(st.Open, Partial{StartUs: start, Key: k, Rows: g.Rows, Aggs: g.Aggs})
		}
	}
	return normalEmpties(st)
}

// normalEmpties is st with every empty slice nil and no kept encodings: the
// binary form does not tell nil from empty, and no reader does either.
func normalEmpties(st localState) localState {
	accs := func(aggs []acc) []acc {
		if len(aggs) == 0 {
			return nil
		}
		out := slices.Clone(aggs)
		for i := range out {
			if len(out[i].Sum.P) == 0 {
				out[i].Sum.P = nil
			}
		}
		return out
	}
	partials := func(ps []Partial) []Partial {
		if len(ps) == 0 {
			return nil
		}
		out := slices.Clone(ps)
		for i := range out {
			out[i].Aggs = accs(out[i].Aggs)
		}
		return out
	}
	st.Open = partials(st.Open)
	if len(st.Sent) == 0 {
		st.Sent = nil
		return st
	}
	st.Sent = slices.Clone(st.Sent)
	for i := range st.Sent {
		st.Sent[i].bin = nil
		if len(st.Sent[i].Bundles) == 0 {
			st.Sent[i].Bundles = nil
			continue
		}
		st.Sent[i].Bundles = slices.Clone(st.Sent[i].Bundles)
		for j := range st.Sent[i].Bundles {
			st.Sent[i].Bundles[j].Partials = partials(st.Sent[i].Bundles[j].Partials)
		}
	}
	return st
}

// noLegacy clears the legacy rounded sums randAccs makes: an engine never
// holds one (decodeLocal folds that of a JSON state into the exact sum).
func noLegacy(aggs []acc) []acc {
	for i := range aggs {
		aggs[i].Legacy = 0
	}
	return aggs
}

// TestLocalStateBinaryRoundTrips: random states (every float class, the
// strings JSON escapes, empty windows) read back field for field, and encode
// again to the same bytes.
func TestLocalStateBinaryRoundTrips(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := range 3000 {
		st, open := randLocalState(r)
		data := snapshotLocalBinary(&st, open, 0)
		got, err := decodeLocal(data)
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		want := normalized(st, open)
		if !reflect.DeepEqual(normalEmpties(*got), want) {
			t.Fatalf("state %d read back as\n%+v\nwant\n%+v", i, *got, want)
		}
		again := snapshotLocalBinary(got, groupsOf(got.Open), 0)
		if !bytes.Equal(again, data) {
			t.Fatalf("state %d: encoded again to other bytes", i)
		}
		stamp, off, err := LocalStateInfo(data)
		if err != nil || stamp != st.LocalStamp || off != st.Marker.Offset {
			t.Fatalf("state %d: LocalStateInfo %+v %d %v, want %+v %d", i, stamp, off, err, st.LocalStamp, st.Marker.Offset)
		}
	}
}

func groupsOf(ps []Partial) map[int64]map[string]*group {
	open := map[int64]map[string]*group{}
	for _, p := range ps {
		if open[p.StartUs] == nil {
			open[p.StartUs] = map[string]*group{}
		}
		open[p.StartUs][p.Key] = &group{Rows: p.Rows, Aggs: p.Aggs}
	}
	return open
}

// A partition state written as JSON (version 1, by builds before session 39)
// loads as the binary state of the same engine does: both engines then write
// the same binary state and send the same bundles.
func TestLocalStateJSONVersionOneStillLoads(t *testing.T) {
	a := newLocal(t, 0)
	var rows []Row
	for i := range 40 {
		rows = append(rows, localRow(0, int64(i), i%23, fmt.Sprintf(`["K%d"]`, i%7), 1.25*float64(i)-3))
	}
	a.Process(rows, epoch)
	stamp := LocalStamp{Fence: 5, Commit: 40}
	bin, ok, err := a.SnapshotPartition("rides", 0, stamp)
	if err != nil || !ok || !strings.HasPrefix(string(bin), localBinMagic) {
		t.Fatalf("snapshot: ok %v err %v, binary %v", ok, err, strings.HasPrefix(string(bin), localBinMagic))
	}
	s := a.parts[Position{Topic: "rides"}.Key()]
	v1 := localState{Version: localStateVersion, Config: a.config, LocalStamp: stamp, Marker: s.m, Closed: s.closed, Sent: s.sent}
	v1.Open = normalized(v1, s.open).Open
	if len(v1.Open) == 0 || len(v1.Sent) == 0 {
		t.Fatalf("setup: want open windows and sent bundles, got %d and %d", len(v1.Open), len(v1.Sent))
	}
	js, err := json.Marshal(&v1)
	if err != nil {
		t.Fatal(err)
	}
	if st, off, err := LocalStateInfo(js); err != nil || st != stamp || off != s.m.Offset {
		t.Fatalf("LocalStateInfo of version 1: %+v %d %v", st, off, err)
	}
	fromJSON, fromBin := newLocal(t, 0), newLocal(t, 0)
	if err := fromJSON.LoadPartition("rides", 0, js, epoch); err != nil {
		t.Fatal(err)
	}
	if err := fromBin.LoadPartition("rides", 0, bin, epoch); err != nil {
		t.Fatal(err)
	}
	j2, _, _ := fromJSON.SnapshotPartition("rides", 0, stamp)
	b2, _, _ := fromBin.SnapshotPartition("rides", 0, stamp)
	if !bytes.Equal(j2, bin) || !bytes.Equal(b2, bin) {
		t.Fatal("a loaded state wrote another state")
	}
	next := []Row{localRow(0, 40, 45, `["K1"]`, 2)}
	rj, rb := fromJSON.Process(next, epoch), fromBin.Process(next, epoch)
	if len(rj.Bundles) == 0 || len(rj.Bundles) != len(rb.Bundles) {
		t.Fatalf("bundles after the load: %d from JSON, %d from binary", len(rj.Bundles), len(rb.Bundles))
	}
	for i := range rj.Bundles {
		ej, _ := EncodeBundle(&rj.Bundles[i])
		eb, _ := EncodeBundle(&rb.Bundles[i])
		if !bytes.Equal(ej, eb) {
			t.Fatalf("bundle %d differs:\n%s\n%s", i, ej, eb)
		}
	}
}

// A damaged binary state is refused with an error, never a panic or a
// partial load: every truncation, a byte after its end, single-byte
// changes, a version this build does not know.
func TestLocalStateBinaryRefusesDamage(t *testing.T) {
	a := newLocal(t, 0)
	a.Process([]Row{localRow(0, 0, 1, `["A"]`, 2.5), localRow(0, 1, 3, `["B"]`, 4), localRow(0, 2, 21, `["A"]`, 1)}, epoch)
	data, _, err := a.SnapshotPartition("rides", 0, LocalStamp{Fence: 1, Commit: 3})
	if err != nil {
		t.Fatal(err)
	}
	for n := len(localBinMagic); n < len(data); n++ {
		if err := newLocal(t, 0).LoadPartition("rides", 0, data[:n], epoch); err == nil {
			t.Fatalf("a state cut at %d of %d bytes loaded", n, len(data))
		}
	}
	if err := newLocal(t, 0).LoadPartition("rides", 0, append(slices.Clone(data), 0), epoch); err == nil {
		t.Fatal("a state with a byte after its end loaded")
	}
	for i := len(localBinMagic); i < len(data); i++ {
		for _, x := range []byte{0, 0x7f, 0xff} {
			bad := slices.Clone(data)
			bad[i] = x
			_ = newLocal(t, 0).LoadPartition("rides", 0, bad, epoch) // no panic
			_, _, _ = LocalStateInfo(bad)
		}
	}
	v3 := slices.Clone(data)
	v3[len(localBinMagic)] = 3
	err = newLocal(t, 0).LoadPartition("rides", 0, v3, epoch)
	if err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("a version-3 state: %v", err)
	}
	if _, _, err := LocalStateInfo(v3); err == nil {
		t.Fatal("LocalStateInfo read a version-3 state")
	}
}

// A JSON state's legacy rounded sum (field "s") loads into the exact sum,
// open groups and sent bundles alike, so the binary state keeps its value.
func TestLocalStateJSONLegacySumIsFolded(t *testing.T) {
	e := newLocal(t, 0)
	aggs := func() []acc {
		return []acc{{Sum: exactSum{P: []float64{1.5}}, N: 1, Min: 1.5, Max: 1.5, Legacy: 2.25}, {N: 1}, {}, {N: 1}, {N: 1}}
	}
	st := localState{Version: localStateVersion, Config: e.config, Marker: Marker{Topic: "rides", MaxMs: 1, Offset: 3}, Closed: noWatermark,
		Open: []Partial{{StartUs: at0, Key: `["A"]`, Rows: 1, Aggs: aggs()}},
		Sent: []sentBundles{{Trigger: 2, Bundles: []Bundle{{Source: Marker{Topic: "rides"}, Partials: []Partial{{Key: `["B"]`, Rows: 1, Aggs: aggs()}}}}}}}
	js, err := json.Marshal(&st)
	if err != nil || !strings.Contains(string(js), `"s":2.25`) {
		t.Fatalf("setup: %s %v", js, err)
	}
	got, err := decodeLocal(js)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []acc{got.Open[0].Aggs[0], got.Sent[0].Bundles[0].Partials[0].Aggs[0]} {
		if a.Legacy != 0 || a.Sum.value() != 3.75 {
			t.Fatalf("legacy sum not folded: %+v (value %v)", a, a.Sum.value())
		}
	}
	if err := e.LoadPartition("rides", 0, js, epoch); err != nil {
		t.Fatal(err)
	}
	bin, _, _ := e.SnapshotPartition("rides", 0, LocalStamp{})
	back, err := decodeLocal(bin)
	if err != nil || back.Open[0].Aggs[0].Sum.value() != 3.75 || back.Sent[0].Bundles[0].Partials[0].Aggs[0].Sum.value() != 3.75 {
		t.Fatalf("binary state after the load: %+v %v", back, err)
	}
}
