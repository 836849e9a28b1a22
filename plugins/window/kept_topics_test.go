package window

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

// Stage local's barrier flush is scoped to the topics it keeps state for: a
// commit of the internal topic (stage merge's transaction, in the same
// process) neither writes stage 1's state nor waits for its store, a commit
// of the source topic does.
func TestStageLocalFlushesOnlyBeforeCommitsOfItsTopic(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := newLocal(t, res)
	ctx := context.Background()
	if err := commitbarrier.Process.FlushFor(ctx, []string{"rides"}); err != nil {
		t.Fatal(err)
	}
	processStage(t, p, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1))
	p.noteCommitting("rides", 0, 1, -1)
	written := func() bool {
		data, err := p.getKey(ctx, "rides_agg-rides-0@1")
		return err == nil && data != nil
	}
	if err := commitbarrier.Process.FlushFor(ctx, []string{"rides-connect-rides-repartition"}); err != nil {
		t.Fatal(err)
	}
	if written() {
		t.Fatal("a commit of another topic wrote stage local's state")
	}
	if err := commitbarrier.Process.FlushFor(ctx, []string{"rides"}); err != nil {
		t.Fatal(err)
	}
	if !written() {
		t.Fatal("a commit of the source topic did not write stage local's state")
	}
	if got := p.kept.list(); len(got) != 1 || got[0] != "rides" {
		t.Fatalf("kept topics %v, want [rides]", got)
	}
}
