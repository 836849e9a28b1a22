package window

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/bloblang"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// windowState is `root = this.window_state()` of state, as JSON, and the
// mapping.
func windowState(t *testing.T, state []byte) (*bloblang.Executor, []byte) {
	t.Helper()
	exe, err := bloblang.Parse(`root = this.window_state()`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exe.Query(state)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(out)
	return exe, js
}

// window_state reads stage merge's binary state (version 4) into an object
// whose integers are exact: an unset watermark is math.MinInt64.
func TestBloblangWindowStateReadsABinaryMergeState(t *testing.T) {
	e, err := engine.New(engine.Config{Size: 5 * time.Minute, Delay: 10 * time.Minute, Mode: engine.ModePerPartition,
		Emit: engine.EmitAfterBatch, Stage: engine.StageMerge, GroupNames: []string{"city"},
		Aggregates: []engine.AggSpec{{Name: "cnt", Op: engine.OpCount}}, RetainEmissions: 4})
	if err != nil {
		t.Fatal(err)
	}
	m := &engine.Marker{Topic: "rides", Partition: 1, Partitions: 2, MaxMs: 1_773_480_000_000, Offset: 41}
	e.Merge([]engine.MergeInput{{Marker: m, Pos: engine.Position{Topic: "G-repartition", Partition: 3, Offset: 7}, HasPos: true}}, time.Unix(1_700_000_000, 0))
	state, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	exe, js := windowState(t, state)
	var got struct {
		Version   int
		Watermark struct {
			Current int64
			Parts   map[string]struct {
				MaxMs int64 `json:"max_ms"`
			}
		}
		Applied map[string][]struct{ Lo, Hi int64 }
	}
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 4 || got.Watermark.Current != math.MinInt64 || got.Watermark.Parts["rides/1"].MaxMs != m.MaxMs ||
		len(got.Applied["G-repartition/3"]) != 1 || got.Applied["G-repartition/3"][0].Hi != 7 {
		t.Fatalf("window_state: %s", js)
	}
	if _, err := exe.Query([]byte("not a state")); err == nil {
		t.Fatal("window_state read bytes that are not a state")
	}
}

// window_state reads a stage-local source partition's binary state (version
// 2) too: its stamp, progress and open groups.
func TestBloblangWindowStateReadsABinaryLocalState(t *testing.T) {
	e, err := engine.NewLocal(engine.Config{Size: 5 * time.Minute, Delay: 10 * time.Minute, Mode: engine.ModePerPartition,
		Emit: engine.EmitAfterBatch, Stage: engine.StageLocal, GroupNames: []string{"city"},
		Aggregates: []engine.AggSpec{{Name: "cnt", Op: engine.OpCount}}, RetainEmissions: 4})
	if err != nil {
		t.Fatal(err)
	}
	e.Process([]engine.Row{{TimeUs: 1_773_480_000_000_000, Key: `["PARIS"]`, Values: []engine.Value{{F: 1}},
		Pos: engine.Position{Topic: "rides", Partition: 2, Offset: 41}, HasPos: true, Partitions: 3}}, time.Unix(1_700_000_000, 0))
	state, ok, err := e.SnapshotPartition("rides", 2, engine.LocalStamp{Fence: 7, Commit: 42})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	exe, js := windowState(t, state)
	var got struct {
		Version, Fence, Commit int64
		Marker                 struct {
			Offset int64
			MaxMs  int64 `json:"max_ms"`
		}
		Open []struct {
			Key  string
			Rows int64
		}
	}
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Fence != 7 || got.Commit != 42 || got.Marker.Offset != 41 || got.Marker.MaxMs != 1_773_480_000_000 ||
		len(got.Open) != 1 || got.Open[0].Key != `["PARIS"]` || got.Open[0].Rows != 1 {
		t.Fatalf("window_state: %s", js)
	}
	if _, err := exe.Query(state[:len(state)-3]); err == nil {
		t.Fatal("window_state read a truncated local state")
	}
}
