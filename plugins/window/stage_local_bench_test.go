package window

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// BenchmarkStageOne is one source partition's batches of 1024 rides through
// stage full (config/rides.yaml's window) and stage local (the scale-out
// job's stage 1, bundles passed on), with a checkpoint cache but no flush.
// One op = one event; the ratio of the two is stage local's cost per ride.
func BenchmarkStageOne(b *testing.B) {
	for _, stage := range []string{"full", "local"} {
		b.Run(stage, func(b *testing.B) {
			res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
			var p service.BatchProcessor
			var err error
			if stage == "local" {
				p, err = newLocalProcessor(parseConfig(b, ridesYAML+"stage: local\n", res), res, newClock().now)
			} else { // as config/rides.yaml: the state is written at the input's commits
				p, err = newProcessor(parseConfig(b, ridesYAML+"  sync: commit\n", res), res, newClock().now)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			var sec, off int
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n += 1024 {
				b.StopTimer()
				batch := ridesBatch(1024, &sec, &off)
				for _, m := range batch {
					m.MetaSetMut(partitionsMeta, 6)
					m.MetaSetMut(epochMeta, 1)
					m.MetaSetMut("kafka_partition", 0)
				}
				b.StartTimer()
				if _, err := p.ProcessBatch(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
