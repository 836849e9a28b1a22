package window

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

func mustMs(t *testing.T, ts string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMilli()
}

// resumedAt is stageMsg read after the group committed offset start as
// progress.
func resumedAt(ts string, part, off, epoch, start int) *service.Message {
	m := stageMsg(ts, part, off, epoch)
	m.MetaSetMut(startMeta, start)
	m.MetaSetMut(commitMeta, commitProgress)
	return m
}

func newPartial(t *testing.T, res *service.Resources, yaml string) *partialProcessor {
	t.Helper()
	p, err := newPartialProcessor(parseConfig(t, yaml, res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	p.waitChangelog = func(context.Context) error { return nil }
	return p
}

// A partition the group committed as progress, with no progress in the
// changelog, is held (nothing emitted), read again, and loaded once a state
// is there; with state.on_lost: resume it goes on with none. A partition
// whose group committed only start_offset's start (or nothing) is new, and
// so is one with no progress beside another that has some.
func TestStagePartialHoldsAPartitionWhoseChangelogProgressIsLost(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := newPartial(t, res, ridesYAML+"stage: partial\n")
	holds := 0
	p.holdPause = func(context.Context) error {
		if holds++; holds == 3 { // restored from a backup meanwhile
			mk := engine.Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: mustMs(t, "2026-03-14T01:00:00Z"), Offset: 6}
			b, _ := engine.EncodeMarker(&mk)
			var setErr error
			if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) { setErr = c.Set(context.Background(), "0", b, nil) }); err != nil || setErr != nil {
				t.Fatal(err, setErr)
			}
		}
		return nil
	}
	// 00:40 is late against the restored 01:00 − 10m.
	got, markers := kinds(t, processStage(t, p, resumedAt("2026-03-14T00:40:00Z", 0, 7, 1, 7)))
	if holds != 3 || strings.Join(got, ",") != "marker q=0,marker q=1,changelog 0" || markers[0].MaxMs != mustMs(t, "2026-03-14T01:00:00Z") {
		t.Fatalf("after %d holds stage 1 emitted %v %+v, want 3 holds and the row judged against the restored progress", holds, got, markers)
	}

	// rides/1 has no progress either while rides/0 has: its records never
	// reached the window (a filter before it dropped them): not held.
	p.holdPause = func(context.Context) error {
		t.Fatal("held a partition whose records were all dropped before the window")
		return nil
	}
	if got, _ := kinds(t, processStage(t, p, resumedAt("2026-03-14T00:40:00Z", 1, 7, 1, 7))); strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 1" {
		t.Fatalf("a partition with no progress beside one with some gave %v", got)
	}

	// A changelog with no progress at all lost it: held until shutdown.
	empty := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	h := newPartial(t, empty, ridesYAML+"stage: partial\n")
	ctx, cancel := context.WithCancel(context.Background())
	h.holdPause = func(context.Context) error { cancel(); return context.Canceled }
	if _, err := h.ProcessBatch(ctx, service.MessageBatch{resumedAt("2026-03-14T00:40:00Z", 1, 7, 1, 7)}); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "has no progress of rides/1") {
		t.Fatalf("a partition whose progress is lost gave %v, want a hold ended by the shutdown", err)
	}

	start := resumedAt("2026-03-14T00:40:00Z", 1, 7, 2, 7)
	start.MetaSetMut(commitMeta, "start")
	h.holdPause = func(context.Context) error {
		t.Fatal("held a partition the group committed only its start offset of")
		return nil
	}
	if got, _ := kinds(t, processStage(t, h, start)); strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 1" {
		t.Fatalf("a new partition gave %v", got)
	}

	r := newPartial(t, empty, strings.Replace(ridesYAML, "  cache: window_state\n", "  cache: window_state\n  on_lost: resume\n", 1)+"stage: partial\n")
	r.holdPause = h.holdPause
	if got, _ := kinds(t, processStage(t, r, resumedAt("2026-03-14T00:40:00Z", 0, 9, 1, 9))); strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 0" {
		t.Fatalf("with on_lost resume a lost partition gave %v", got)
	}
}

// The offsets of dead letters commit with their batch, so the changelog
// copy committed with them covers them: in the partition's marker when the
// batch has rows of it, in a changelog copy alone when it has none. A
// partition whose every record so far failed thus has progress, and is not
// held as lost by its next owner.
func TestStagePartialProgressCoversDeadLetters(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := newPartial(t, res, ridesYAML+"stage: partial\n")
	bad := func(part, off, epoch int) *service.Message {
		m := stageMsg("2026-03-14T00:30:00Z", part, off, epoch)
		m.SetError(errors.New("parse_ride: bad JSON"))
		return m
	}
	got, markers := kinds(t, processStage(t, p, stageMsg("2026-03-14T00:30:00Z", 0, 0, 1), bad(0, 1, 1)))
	if strings.Join(got, ",") != "errored,partial,marker q=0,marker q=1,changelog 0" || markers[0].Offset != 1 {
		t.Fatalf("rows and a dead letter gave %v %+v, want the marker at the dead letter's offset 1", got, markers)
	}
	got, markers = kinds(t, processStage(t, p, bad(1, 0, 1), bad(1, 1, 1)))
	if strings.Join(got, ",") != "errored,errored,changelog 1" || markers[0].Offset != 1 || markers[0].Partitions != 2 {
		t.Fatalf("a dead-letter-only batch gave %v %+v, want the dead letters and a changelog copy at offset 1", got, markers)
	}
	// The copy is what the next owner loads: no hold, and offset 1 is a replay.
	next := newPartial(t, res, ridesYAML+"stage: partial\n")
	next.holdPause = func(context.Context) error {
		t.Fatal("held a partition whose every record was a dead letter")
		return nil
	}
	b, _ := engine.EncodeMarker(markers[0])
	var setErr error
	if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) { setErr = c.Set(context.Background(), "1", b, nil) }); err != nil || setErr != nil {
		t.Fatal(err, setErr)
	}
	if got, _ := kinds(t, processStage(t, next, resumedAt("2026-03-14T00:31:00Z", 1, 2, 1, 2))); strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 1" {
		t.Fatalf("the next owner gave %v", got)
	}
}
