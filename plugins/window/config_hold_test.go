package window

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// newMergeFromYAML is a stage-merge processor of yaml with its state in a
// changelog (state.changelog).
func newMergeFromYAML(t *testing.T, yaml string, res *service.Resources) *mergeProcessor {
	t.Helper()
	conf, err := spec().ParseYAML(strings.Replace(yaml, "  key: rides_agg\n", "  key: rides_agg\n  changelog: true\n", 1)+"stage: merge\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := fromParsed(conf, res)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newMergeProcessor(c, res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A stage 2 whose window config is not its stage 1's (here the sum renamed:
// merged by position, revenue's values would land in another column) holds
// the batch: no row, no dead letter, an error only once the batch's context
// ends. Before, such partials were merged into wrong rows (red team rt19b).
// The same records go through a stage 2 of the same config.
func TestStageMergeHoldsPartialsOfAnotherStageConfig(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	other := newMergeFromYAML(t, strings.Replace(ridesYAML, "revenue:", "income:", 1), res)
	mustHold(t, other, onPartition(internal, 0, 1, -1), engine.ErrOtherStageConfig, "stage 2 of another config")

	same := newMergeFromYAML(t, ridesYAML, res)
	same.waitChangelog = func(context.Context) error { return nil }
	mustMerge(t, same, onPartition(internal, 0, 1, -1), "stage 2 of the same config")
}

// mustHold processes batch under a context already ended (a hold waits for
// the context's end: here at once) and fails unless the batch was held for
// cause: an error wrapping cause and the context's end, no output.
func mustHold(t *testing.T, p *mergeProcessor, batch service.MessageBatch, cause error, what string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := p.ProcessBatch(ctx, batch)
	if !errors.Is(err, cause) || !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: err %v, want the batch held until its context ended", what, err)
	}
	if len(out) != 0 {
		t.Fatalf("%s: a held batch gave %d output batches", what, len(out))
	}
}

// mustMerge processes batch and fails if a record is rejected or no row is
// emitted.
func mustMerge(t *testing.T, p *mergeProcessor, batch service.MessageBatch, what string) {
	t.Helper()
	rows := 0
	for _, m := range processStage(t, p, batch...) {
		if m.GetError() != nil {
			t.Fatalf("%s rejected a record: %v", what, m.GetError())
		}
		if k, _ := m.MetaGet(kindMeta); k == "" {
			rows++
		}
	}
	if rows == 0 {
		t.Fatalf("%s emitted no row", what)
	}
}

// A state that does not restore (written under another window config, or
// damaged) is read again, not failed: failing the batch would dead-letter
// its records and commit their offsets, emptying the table (red team
// rt19b). Once the state is one this config restores, the batch goes on.
func TestStageMergeHoldsAStateItCannotRestoreAndReadsItAgain(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))

	// q 0's state as a stage 2 with a renamed aggregate wrote it.
	writer := newMergeFromYAML(t, strings.Replace(ridesYAML, "cnt:", "rides:", 1), res)
	writer.waitChangelog = func(context.Context) error { return nil }
	otherInternal := internalRecordsOf(t, strings.Replace(ridesYAML, "cnt:", "rides:", 1), "2026-03-14T00:01:00Z")
	_, states := splitMerge(t, processStage(t, writer, onPartition(otherInternal, 0, 1, -1)...))
	foreign := states["rides_agg-0"]
	if foreign == nil {
		t.Fatal("the writer left no state for q 0")
	}
	setCache(t, res, "rides_agg-0", foreign)

	p := newMergeFromYAML(t, ridesYAML, res)
	pauses := 0
	p.waitChangelog = func(context.Context) error {
		pauses++
		if pauses == 3 { // its owner rewrites it meanwhile (here: removed)
			if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) { _ = c.Delete(context.Background(), "rides_agg-0") }); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}
	out := processStage(t, p, onPartition(internal, 0, 1, -1)...)
	if pauses < 3 {
		t.Fatalf("the state that does not restore was read %d times, want it read again until it changed", pauses)
	}
	rows := 0
	for _, m := range out {
		if m.GetError() != nil {
			t.Fatalf("a record was failed (dead-lettered by the configs): %v", m.GetError())
		}
		if k, _ := m.MetaGet(kindMeta); k == "" {
			rows++
		}
	}
	if rows == 0 {
		t.Fatal("no row once the state restored")
	}
}
