package window

import (
	"context"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// onPartition copies internal records to internal partition q, as read in
// assignment epoch epoch at group generation gen (-1: no generation).
func onPartition(ms []*service.Message, q, epoch, gen int) []*service.Message {
	out := make([]*service.Message, len(ms))
	for i, m := range ms {
		c := m.Copy()
		c.MetaSetMut("kafka_partition", q)
		c.MetaSetMut(epochMeta, epoch)
		if gen >= 0 {
			c.MetaSetMut(generationMeta, gen)
		}
		out[i] = c
	}
	return out
}

// fencesAndRows sums up a stage-2 output as "fence q@token" and
// "row q@token" in order (state messages left out).
func fencesAndRows(out service.MessageBatch) []string {
	var got []string
	for _, m := range out {
		kind, _ := m.MetaGet(kindMeta)
		q, _ := m.MetaGet(statePartitionMeta)
		tok, ok := m.MetaGet(fenceTokenMeta)
		if !ok {
			tok = "none"
		}
		switch kind {
		case kindState:
		case kindFence:
			got = append(got, "fence "+q+"@"+tok)
		default:
			got = append(got, "row "+q+"@"+tok)
		}
	}
	return got
}

// When stage merge takes an internal partition q over (loads its state at
// a new assignment epoch), it emits exactly one fence message for q, before
// q's rows, with the group generation as q's token; q's rows carry the same
// token. No fence while the epoch stays, none without a generation.
func TestStageMergeEmitsOneFencePerInternalPartitionItTakesOver(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	noWait := func(context.Context) error { return nil }
	a := newChangelogMerge(t, res)
	a.waitChangelog = noWait
	got := fencesAndRows(processStage(t, a, append(onPartition(internal[:6], 0, 1, 3), onPartition(internal[:6], 1, 1, 3)...)...))
	want := "fence 0@3,row 0@3,row 0@3,fence 1@3,row 1@3,row 1@3"
	if strings.Join(got, ",") != want {
		t.Fatalf("first batch of a (q 0 and 1 at generation 3):\n got %v\nwant %s", got, want)
	}
	if got := fencesAndRows(processStage(t, a, onPartition(internal[6:], 0, 1, 3)...)); strings.Join(got, ",") != "row 0@3" {
		t.Fatalf("a's next batch of q 0, same epoch: %v, want one row and no fence", got)
	}
	// b is assigned q 1 at generation 5.
	b := newChangelogMerge(t, res)
	b.waitChangelog = noWait
	if got := fencesAndRows(processStage(t, b, onPartition(internal[:8], 1, 1, 5)...)); got[0] != "fence 1@5" || strings.Count(strings.Join(got, ","), "fence") != 1 || got[len(got)-1] != "row 1@5" {
		t.Fatalf("b taking q 1 over at generation 5: %v, want one fence 1@5 first and rows with token 5", got)
	}
	// a rewinds q 0 (a transaction abort: new epoch, same generation):
	// q 0 is reloaded and fenced again with the same token (a no-op for
	// the sink).
	if got := fencesAndRows(processStage(t, a, onPartition(internal[6:], 0, 2, 3)...)); len(got) == 0 || got[0] != "fence 0@3" || strings.Count(strings.Join(got, ","), "fence") != 1 {
		t.Fatalf("a rewinding q 0: %v, want one fence 0@3 first", got)
	}
	// An input without kafka_group_generation: no token, no fence.
	c := newChangelogMerge(t, res)
	c.waitChangelog = noWait
	if got := fencesAndRows(processStage(t, c, onPartition(internal[:6], 2, 1, -1)...)); strings.Join(got, ",") != "row 2@none,row 2@none" {
		t.Fatalf("without a generation: %v, want rows without a token and no fence", got)
	}
}
