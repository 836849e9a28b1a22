package window

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Benthos lints enum values case-insensitively, so `late_rows: ERROR` passes
// lint: it must mean error (it was read as drop: late rows silently dropped),
// and the cross-field lint rules must read it the same way.
func TestEnumValuesInAnyCaseMeanTheirOption(t *testing.T) {
	y := strings.Replace(ridesYAML, "cnt: { op: count }", "cnt: { op: Count }", 1) +
		"  sync: COMMIT\n  on_lost: Resume\nlate_rows: ERROR\nnull_group_keys: Group\nstage: Full\n"
	y = strings.Replace(y, "  delay: 10m\n", "  delay: 10m\n  mode: Per_Partition\n  emit: AFTER_BATCH\n", 1)
	conf, err := spec().ParseYAML(y, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := fromParsed(conf, service.MockResources(service.MockResourcesOptAddCache("window_state")))
	if err != nil {
		t.Fatal(err)
	}
	e := c.engine
	if !c.lateError || !c.nullKeys || !c.syncOnCommit || c.onLost != onLostResume || e.Stage != engine.StageFull ||
		e.Mode != engine.Mode("per_partition") || e.Emit != engine.Emit("after_batch") || e.Aggregates[1].Op != engine.OpCount {
		t.Fatalf("late error %v, null keys group %v, sync commit %v, on_lost %q, stage %q, mode %q, emit %q, ops %v",
			c.lateError, c.nullKeys, c.syncOnCommit, c.onLost, e.Stage, e.Mode, e.Emit, e.Aggregates)
	}
	b := service.NewStreamBuilder()
	if err := b.AddProcessorYAML("tumbling_window:\n  " + strings.ReplaceAll(strings.TrimSpace(y), "\n", "\n  ")); err != nil {
		t.Fatalf("lint refuses a valid config: %v", err)
	}
}
