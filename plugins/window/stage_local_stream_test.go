package window

import (
	"fmt"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Stage local through Benthos, without Kafka: its bundles, written to an
// in-memory internal topic by window_marker_partition in whatever order the
// pipeline threads hand them out, then stage merge, equal stage full's rows.
func TestStreamLocalShuffleMergeEqualsFull(t *testing.T) {
	parts := streamRides()
	for threads := 1; threads <= 4; threads++ {
		for seed := int64(1); seed <= 2; seed++ {
			t.Run(fmt.Sprintf("threads=%d/seed=%d", threads, seed), func(t *testing.T) {
				full := streamFull(t, parts, threads, seed)
				internal := make([]service.MessageBatch, len(parts))
				send, stop := runStage(t, threads, "local", func(b service.MessageBatch) {
					for _, m := range b {
						if m.GetError() != nil {
							t.Errorf("stage local passed on an errored message: %v", m.GetError())
							continue
						}
						kind, _ := m.MetaGet(kindMeta)
						q, ok := metaInt(m, markerPartMeta)
						body, _ := m.AsBytes()
						if kind != kindBundle || !ok {
							t.Fatalf("stage local emitted %q (metadata %s %q)", body, kindMeta, kind)
						}
						rec := service.NewMessage(append([]byte(nil), body...))
						rec.MetaSetMut(kindMeta, kind)
						internal[q] = append(internal[q], rec)
					}
				})
				feedPartitions(t, send, parts, seed)
				stop()
				mergeEqualsFull(t, internal, full, threads, seed)
			})
		}
	}
}

// A batch a stage merge of the same pipeline passed on (window_stage) goes
// through stage local untouched.
func TestStageLocalPassesStageMergeOutputOn(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newLocalProcessor(stageConfig(t, "local", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(t.Context())
	row := service.NewMessage([]byte(`{"city":"PARIS","cnt":3}`))
	row.MetaSetMut(stageMeta, "merge")
	out := processStage(t, p, row)
	if len(out) != 1 || out[0] != row || out[0].GetError() != nil {
		t.Fatalf("stage merge's row came out as %v", out)
	}
}
