package engine

import (
	"encoding/json"
	"testing"
	"time"
)

// ridesConfig is the seed job's shape: 5 min windows, 10 min delay, by city,
// revenue = sum(price), avg_distance = avg(distanceKm), cnt = count rows.
func ridesConfig() Config {
	return Config{
		Size: 5 * time.Minute, Delay: 10 * time.Minute, Mode: ModeGlobal,
		// Most tests pin Spark's backlog timing (the two-watermark rule);
		// emit_test.go covers the default, EmitAfterBatch.
		Emit:       EmitNextBatch,
		GroupNames: []string{"city"},
		Aggregates: []AggSpec{
			{Name: "revenue", Op: OpSum, HasValue: true},
			{Name: "avg_distance", Op: OpAvg, HasValue: true},
			{Name: "cnt", Op: OpCount},
		},
		RetainEmissions: 4,
	}
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// restarted is a new engine restored from e's snapshot: what a process
// restarting from e's checkpoint runs.
func restarted(t testing.TB, e *Engine) *Engine {
	t.Helper()
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, e.cfg)
	if err := e2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	return e2
}

// at parses an RFC 3339 time into µs.
func at(t testing.TB, s string) int64 {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return TimeToMicros(ts)
}

func key(t testing.TB, v ...any) string {
	t.Helper()
	k, err := EncodeKey(v)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ride is a rides row with price and distance.
func ride(t testing.TB, ts, city string, price, dist float64) Row {
	return Row{TimeUs: at(t, ts), Key: key(t, city), Values: []Value{{F: price}, {F: dist}, Null}}
}

// decoded is an emitted row as a map, for assertions.
func decoded(t testing.TB, e *Engine, r OutRow) map[string]any {
	t.Helper()
	b, err := r.JSON(e.cfg.GroupNames, e.cfg.Aggregates)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("emitted row %s is not JSON: %v", b, err)
	}
	return m
}

var epoch = time.Unix(1_700_000_000, 0)
