package window

import (
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Stage 1 sets window_watermark_advanced on the internal-topic copies of a
// marker that moves its partition's watermark past a window end (the first
// marker of a partition does), not on the changelog copy, and not on a
// marker that stays within the window (delay 10m, 5-minute windows).
func TestStagePartialFlagsMarkersThatAdvanceTheWatermark(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	flags := func(out service.MessageBatch) (flagged, markers int) {
		for _, m := range out {
			kind, _ := m.MetaGet(kindMeta)
			_, isCopy := m.MetaGet(changelogKeyMeta)
			v, has := m.MetaGet(advancedMeta)
			if kind != kindMarker {
				if has {
					t.Fatalf("a %s message carries %s", kind, advancedMeta)
				}
				continue
			}
			if isCopy {
				if has {
					t.Fatalf("the changelog copy carries %s", advancedMeta)
				}
				continue
			}
			markers++
			if has && v == "true" {
				flagged++
			}
		}
		return flagged, markers
	}
	// Each marker goes to the 2 internal partitions.
	for _, step := range []struct {
		ts      string
		off     int
		flagged int
		why     string
	}{
		{"2026-03-14T00:30:00Z", 0, 2, "the partition's first marker"},
		{"2026-03-14T00:34:00Z", 1, 0, "watermark 00:24 passes no end after 00:20"},
		{"2026-03-14T00:35:00Z", 2, 2, "watermark 00:25 passes the end 00:25"},
		{"2026-03-14T00:31:00Z", 3, 0, "an earlier ride moves nothing"},
	} {
		f, n := flags(processStage(t, p, stageMsg(step.ts, 0, step.off, 1)))
		if n != 2 || f != step.flagged {
			t.Fatalf("ride at %s: %d of %d marker copies flagged, want %d of 2 (%s)", step.ts, f, n, step.flagged, step.why)
		}
	}
}
