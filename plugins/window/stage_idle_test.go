package window

import (
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// An idle marker of partition r is announced in a batch of another partition
// p. A changelog copy of it would be produced in p's batch, unordered against
// r's own next batch (another pipeline thread, either order at the broker), or
// by a replica that no longer owns r and still remembers it: G-stage1-state
// could then end on an older state of r than the one committed with r's
// offsets, and r's next owner would judge lateness against an older max. Only
// r's own batches write r's changelog; stage 2 still gets the idle marker.
func TestStagePartialIdleMarkerHasNoChangelogCopy(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	clk := newClock()
	yaml := strings.Replace(ridesYAML, "delay: 10m", "delay: 10m\n  idle_timeout: 1m", 1) + "stage: partial\n"
	conf, err := spec().ParseYAML(yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := fromParsed(conf, res)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPartialProcessor(c, res, clk.now)
	if err != nil {
		t.Fatal(err)
	}
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
