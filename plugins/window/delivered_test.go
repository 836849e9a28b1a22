package window

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

// With state.sync: commit, an emission whose triggering records the
// consumer reports acknowledged (commitbarrier.Acked, after its flush) is
// left out of the next state written: a restart does not re-emit it. Not
// acknowledged, it is kept and re-emitted, as before.
func TestAcknowledgedEmissionsAreNotCheckpointed(t *testing.T) {
	for _, acked := range []bool{false, true} {
		res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
		p := build(t, syncCommitYAML, res, newClock())
		run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)})
		// 20 minutes later: the 00:00 window closes, triggered by offset 1.
		if rows, _ := run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:21:00Z", 1, 1, 0, 1)}); len(rows) != 1 {
			t.Fatalf("the closing batch emitted %d rows, want 1", len(rows))
		}
		if acked {
			commitbarrier.Process.Acked("rides", 0, 2) // offsets 0 and 1
		}
		run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:22:00Z", 1, 1, 0, 2)})
		if err := commitbarrier.Process.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		restarted := build(t, ridesYAML, res, newClock())
		rows, _ := run(t, restarted, service.MessageBatch{msg("FR", "2026-03-14T00:23:00Z", 1, 1, 0, 3)})
		if want := map[bool]int{false: 1, true: 0}[acked]; len(rows) != want {
			t.Fatalf("acknowledged %v: the restart re-emitted %d rows, want %d", acked, len(rows), want)
		}
	}
}
