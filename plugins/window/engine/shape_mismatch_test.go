package engine

import (
	"errors"
	"testing"
	"time"
)

// Red team rt19b: a stage 2 whose window settings differ from its stage 1's
// (an aggregate's op changed, an aggregate renamed, another size, another
// group_by) merged stage 1's partials into wrong rows on a real broker:
// CheckPartial compares only the number of aggregates and the window start's
// alignment, and a partial carries no shape. Each variant below must be
// refused as written by another stage config; fails on 3c41ab6 (all
// accepted). A partial without a fingerprint (written before partials
// carried one) is still taken.
func TestMergeRefusesPartialsOfAnotherStageOneShape(t *testing.T) {
	pe, err := NewPartial(twoStageConfig(StagePartial))
	if err != nil {
		t.Fatal(err)
	}
	row := Row{TimeUs: at(t, "2026-03-01T08:00:10Z"), Key: `["A"]`,
		Values: []Value{{F: 1}, {F: 2}, Null, {F: 3}, {F: 3}},
		Pos:    Position{Topic: "t", Partition: 0, Offset: 0}, HasPos: true, Partitions: 1}
	res := pe.Process([]Row{row}, time.Unix(0, 0))
	if len(res.Partials) != 1 {
		t.Fatalf("want 1 partial, got %d", len(res.Partials))
	}
	p := res.Partials[0]
	same := newEngine(t, twoStageConfig(StageMerge))
	if err := same.CheckPartial(&p); err != nil {
		t.Fatalf("the same shape refused: %v", err)
	}
	for name, edit := range map[string]func(*Config){
		"op of lo changed to max":  func(c *Config) { c.Aggregates[3].Op = OpMax },
		"cnt renamed to rides":     func(c *Config) { c.Aggregates[2].Name = "rides" },
		"size 5m changed to 10m":   func(c *Config) { c.Size = 10 * time.Minute },
		"group_by city and bucket": func(c *Config) { c.GroupNames = []string{"bucket", "city"} },
		"delay 10m changed to 5m":  func(c *Config) { c.Delay = 5 * time.Minute },
	} {
		cfg := twoStageConfig(StageMerge)
		edit(&cfg)
		if err := newEngine(t, cfg).CheckPartial(&p); !errors.Is(err, ErrOtherStageConfig) {
			t.Errorf("%s: stage 2 took a partial of another stage-1 config (err %v)", name, err)
		}
	}
	old := p
	old.Config = ""
	if err := same.CheckPartial(&old); err != nil {
		t.Errorf("a partial without a fingerprint refused: %v", err)
	}
}
