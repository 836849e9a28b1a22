package engine

import (
	"strings"
	"testing"
)

// Bad input never panics: any string is a timestamp or an error.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2025-03-14T12:07:00Z", "2025-03-14 12:07:00.1234567+01:00", "1e300", "-0.5", "", "9999-99-99", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		us, err := ParseTimestamp(s)
		if err == nil {
			_ = FormatTime(us)
			_ = windowStart(us, 300_000_000, 0)
		}
	})
}

// A corrupt checkpoint is refused with an error, never a panic or a half
// restored engine that later panics.
func FuzzRestore(f *testing.F) {
	e := newEngine(f, ridesConfig())
	e.Process([]Row{ride(f, "2025-01-01T00:01:00Z", "A", 1, 1), ride(f, "2025-01-01T00:30:00Z", "B", 1, 1)}, epoch)
	bin, _ := e.Snapshot()
	f.Add(bin)
	good, _ := e.snapshotJSON() // version 1, as main wrote it
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(strings.Replace(string(good), `"groups":{`, `"groups":{"[\"Z\"]":null,`, 1)))
	f.Add([]byte(strings.Replace(string(good), `"pending":[`, `"pending":[null,`, 1)))
	f.Add([]byte(`{"version":1,"shape":{"size_us":300000000,"offset_us":0,"group_by":["city"],"aggregates":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newEngine(t, ridesConfig())
		if err := e.Restore(data); err != nil {
			return
		}
		e.Process([]Row{ride(t, "2025-01-01T02:00:00Z", "A", 1, 1), {Heartbeat: true}}, epoch)
		if _, err := e.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}

// The same for stage merge's state (version 4, and the JSON of earlier
// builds), its local sources and held bundles included.
func FuzzRestoreMerge(f *testing.F) {
	e := busyMergeEngine(f)
	bin, _ := e.Snapshot()
	f.Add(bin)
	js, _ := e.snapshotJSON()
	f.Add(js)
	f.Add([]byte(strings.Replace(string(js), `"held":[`, `"held":[null,`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newEngine(t, twoStageConfig(StageMerge))
		if err := e.Restore(data); err != nil {
			return
		}
		m := &Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: 1_741_990_000_000, Offset: 99}
		e.Merge([]MergeInput{{Marker: m, Pos: Position{Topic: "G-repartition", Offset: 9}, HasPos: true}}, epoch)
		if _, err := e.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}
