package window

import (
	"context"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Each emitted row carries window_emitted_unix_ms: the wall-clock time (epoch
// ms) of the batch that closed its window, which delta_lake turns into
// delta_emit_to_commit_seconds. Swallowed rides carry nothing to the output.
func TestEmittedRowsCarryTheEmissionTime(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	if _, err := p.ProcessBatch(context.Background(), service.MessageBatch{
		msg("FR", "2026-03-14T00:01:00Z", 10.5, 5, 0, 0), msg("US", "2026-03-14T00:03:00Z", 30, 9, 1, 0),
	}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	out, err := p.ProcessBatch(context.Background(), service.MessageBatch{
		msg("DE", "2026-03-14T00:16:00Z", 8, 6, 1, 1), msg("DE", "2026-03-14T00:16:00Z", 8, 6, 0, 1),
	})
	after := time.Now().UnixMilli()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range out {
		for _, m := range b {
			v, ok := m.MetaGetMut("window_emitted_unix_ms")
			ms, isInt := v.(int64)
			if !ok || !isInt || ms < before || ms > after {
				t.Errorf("window_emitted_unix_ms = %v (%T), want an int64 in [%d, %d]", v, v, before, after)
			}
			n++
		}
	}
	if n != 2 {
		t.Fatalf("emitted %d rows, want 2 (FR and US of [00:00, 00:05))", n)
	}
}
