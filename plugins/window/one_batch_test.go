package window

import (
	"context"
	"errors"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Benthos' pipeline thread waits for the acks of every batch a processor
// returns when it returns more than one; one batch is handed on at once. So
// a batch's dead letters leave with its bundles (stage local) or with the
// first window it closes (stage full), in one batch.
func TestDeadLettersLeaveWithTheOutputInOneBatch(t *testing.T) {
	bad := func(part, off, epoch int) *service.Message {
		m := stageMsg("2026-03-14T10:02:00Z", part, off, epoch)
		m.SetError(errors.New("bad_json: upstream parse failed"))
		return m
	}
	t.Run("local", func(t *testing.T) {
		res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
		p := newLocal(t, res)
		processStage(t, p, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1))
		out, err := p.ProcessBatch(context.Background(), service.MessageBatch{
			bad(0, 1, 1), localMsg("2026-03-14T10:30:00Z", 0, 2, 1, 5, -1),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 {
			t.Fatalf("%d batches, want 1", len(out))
		}
		var errored, bundles int
		for _, m := range out[0] {
			if m.GetError() != nil {
				errored++
			} else if k, _ := m.MetaGet(kindMeta); k == kindBundle {
				bundles++
			}
		}
		if errored != 1 || bundles != 2 {
			t.Fatalf("%d dead letters and %d bundles, want 1 and 2", errored, bundles)
		}
	})
	t.Run("full", func(t *testing.T) {
		p := build(t, ridesYAML, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
		out, err := p.ProcessBatch(context.Background(), service.MessageBatch{
			msg("FR", "2026-03-14T10:01:00Z", 2, 3, 0, 0), bad(0, 1, 0), msg("FR", "2026-03-14T10:30:00Z", 2, 3, 0, 2),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || len(out[0]) != 2 || out[0][0].GetError() == nil || out[0][1].GetError() != nil {
			t.Fatalf("got %d batches (%v), want one: the dead letter, then the window row", len(out), out)
		}
	})
}

// Stage merge tags all it passes on, also what Benthos passes on when it
// fails a batch, so that the output routes stage 2's dead letters apart.
func TestStageMergeTagsAllItPassesOn(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z")
	junk := internalMsg(t, kindBundle, []byte("not a bundle"), 0, len(internal), 1)
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	out := processStage(t, newChangelogMerge(t, res), append(internal, junk)...)
	var rows, states, errored int
	for _, m := range out {
		if v, _ := m.MetaGet(stageMeta); v != "merge" {
			t.Fatalf("message without %s: merge (error %v)", stageMeta, m.GetError())
		}
		k, _ := m.MetaGet(kindMeta)
		switch {
		case m.GetError() != nil:
			errored++
		case k == kindState:
			states++
		default:
			rows++
		}
	}
	if rows == 0 || states == 0 || errored != 1 {
		t.Fatalf("%d rows, %d states, %d dead letters: want some of each and 1", rows, states, errored)
	}

	// A batch with two epochs of one internal partition fails as a whole.
	a, b := internalRecords(t, "2026-03-14T00:01:00Z")[0], internalRecords(t, "2026-03-14T00:02:00Z")[0]
	b.MetaSetMut(epochMeta, 9)
	batch := service.MessageBatch{a, b}
	if _, err := newChangelogMerge(t, res).ProcessBatch(context.Background(), batch); err == nil {
		t.Fatal("a batch with two epochs of one partition was taken")
	}
	for _, m := range batch {
		if v, _ := m.MetaGet(stageMeta); v != "merge" {
			t.Fatal("a failed batch's messages are not tagged")
		}
	}
}

// Stage merge runs in its input's processors, one batch at a time: a batch
// that takes two internal partitions over and closes several windows of
// each leaves as one batch (fences, rows, states, in q order), so its
// thread takes the next input batch at once instead of waiting for a Delta
// commit and a changelog write per window (docs/benchmarks.md, session 25),
// and the sink commits the batch's rows together.
func TestStageMergeReturnsOneBatch(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := newChangelogMerge(t, res)
	p.waitChangelog = func(context.Context) error { return nil }
	out, err := p.ProcessBatch(context.Background(), append(onPartition(internal, 0, 1, 3), onPartition(internal, 1, 1, 3)...))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("%d batches, want 1", len(out))
	}
	var fences, rows, states int
	windows := map[string]bool{}
	for _, m := range out[0] {
		switch k, _ := m.MetaGet(kindMeta); k {
		case kindFence:
			fences++
		case kindState:
			states++
		default:
			rows++
			w, _ := m.MetaGet("window_id")
			windows[w] = true
		}
	}
	if fences != 2 || states != 2 || len(windows) < 2 || rows < 4 {
		t.Fatalf("%d fences, %d states, %d rows of %d windows: want 2, 2, and rows of several windows of each q", fences, states, rows, len(windows))
	}
}
