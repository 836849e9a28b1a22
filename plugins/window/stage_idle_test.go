package window

import (
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/ownership"
)

// An idle marker of partition r is announced in a batch of another partition
// p. A changelog copy of it would be produced in p's batch, unordered against
// r's own next batch (another pipeline thread, either order at the broker), or
// by a replica that no longer owns r and still remembers it: G-stage1-state
// could then end on an older state of r than the one committed with r's
// offsets, and r's next owner would judge lateness against an older max. Only
// r's own batches write r's changelog; stage 2 still gets the idle marker.
// idlePartial is a stage-1 processor with a 1-minute idle timeout on clk.
func idlePartial(t *testing.T, clk *clock) *partialProcessor {
	t.Helper()
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	yaml := strings.Replace(ridesYAML, "delay: 10m", "delay: 10m\n  idle_timeout: 1m", 1) + "stage: partial\n"
	p, err := newPartialProcessor(parseConfig(t, yaml, res), res, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStagePartialIdleMarkerHasNoChangelogCopy(t *testing.T) {
	clk := newClock()
	p := idlePartial(t, clk)
	got, _ := kinds(t, processStage(t, p, stageMsg("2026-03-14T00:30:00Z", 0, 0, 1), stageMsg("2026-03-14T00:31:00Z", 1, 0, 1)))
	if strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 0,marker q=0,marker q=1,changelog 1" {
		t.Fatalf("first batch: %v", got)
	}
	clk.add(2 * time.Minute) // partition 1 quiet past the idle timeout
	out := processStage(t, p, stageMsg("2026-03-14T00:32:00Z", 0, 1, 1))
	got, markers := kinds(t, out)
	if want := "partial,marker q=0,marker q=1,changelog 0,marker q=0,marker q=1"; strings.Join(got, ",") != want {
		t.Fatalf("partition 0's batch after partition 1 went idle emitted %v, want %s (no changelog copy of partition 1's idle marker)", got, want)
	}
	if len(markers) != 1 || markers[0].Partition != 0 {
		t.Fatalf("changelog copies %+v, want partition 0's only", markers)
	}
	idle := 0
	for _, m := range out {
		if _, ok := m.MetaGet(markerPartMeta); ok {
			if body, _ := m.AsBytes(); strings.Contains(string(body), `"idle":true`) {
				idle++
			}
		}
	}
	if idle != 2 {
		t.Fatalf("%d idle markers for the internal partitions, want 2 (one per q)", idle)
	}
}

// A replica that lost partition 1 to another one must not announce it idle:
// its progress of partition 1 is old, and may be ahead of the new owner's
// markers (its last transaction aborted at the revocation), so stage 2 would
// leave partition 1 out of the watermark while the new owner still sends it.
func TestStagePartialDoesNotAnnounceALostPartitionIdle(t *testing.T) {
	clk := newClock()
	p := idlePartial(t, clk)
	p.owners = ownership.New()
	own := p.owners.Owner()
	own.Set("rides", 0, true)
	own.Set("rides", 1, true)
	processStage(t, p, stageMsg("2026-03-14T00:30:00Z", 0, 0, 1), stageMsg("2026-03-14T00:31:00Z", 1, 0, 1))
	own.Set("rides", 1, false) // revoked: another replica reads it now
	clk.add(2 * time.Minute)
	got, _ := kinds(t, processStage(t, p, stageMsg("2026-03-14T00:32:00Z", 0, 1, 1)))
	if want := "partial,marker q=0,marker q=1,changelog 0"; strings.Join(got, ",") != want {
		t.Fatalf("after partition 1 moved away, partition 0's batch emitted %v, want %s (nothing of partition 1)", got, want)
	}
	// It comes back (a new epoch): reloaded, announced idle again only once quiet here.
	own.Set("rides", 1, true)
	processStage(t, p, stageMsg("2026-03-14T00:33:00Z", 1, 5, 2))
	clk.add(2 * time.Minute)
	got, _ = kinds(t, processStage(t, p, stageMsg("2026-03-14T00:34:00Z", 0, 2, 1)))
	if want := "partial,marker q=0,marker q=1,changelog 0,marker q=0,marker q=1"; strings.Join(got, ",") != want {
		t.Fatalf("an owned quiet partition: %v, want %s (its idle markers)", got, want)
	}
}
