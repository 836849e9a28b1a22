package window

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/checkpoint/store"
)

// ridesBatch returns n rides JSON messages starting at event second sec.
func ridesBatch(n int, sec *int, off *int) service.MessageBatch {
	cities := []string{"FR", "US", "DE", "MG", "UK"}
	b := make(service.MessageBatch, n)
	for i := range b {
		*sec++
		*off++
		ts := time.Unix(int64(1_773_446_400+*sec/10), 0).UTC().Format(time.RFC3339Nano)
		b[i] = msg(cities[*off%5], ts, float64(*off%50), 7, *off%6, *off)
	}
	return b
}

// BenchmarkProcessorBatch is ProcessBatch on fresh batches of 2048 rides
// without a checkpoint store; making the messages is not timed. One op = one
// event. Sub-benchmarks:
//   - json: raw JSON messages (the JSON is decoded inside ProcessBatch);
//     parsed: already decoded, as after the parse mapping of the rides job;
//   - fieldpath: the plan the processor uses (plain paths read directly);
//     bloblang: every query through one Bloblang pass, as before the fast path.
func BenchmarkProcessorBatch(b *testing.B) {
	conf := ridesYAML[:len(ridesYAML)-len("state:\n  cache: window_state\n  key: rides_agg\n")]
	for _, input := range []string{"json", "parsed"} {
		for _, plan := range benchPlans {
			b.Run(input+"/"+plan, func(b *testing.B) {
				p := build(b, conf, service.MockResources(), newClock())
				if err := setBenchPlan(p, plan); err != nil {
					b.Fatal(err)
				}
				var sec, off, events int
				b.ReportAllocs()
				b.ResetTimer()
				for n := 0; n < b.N; n += 2048 {
					b.StopTimer()
					batch := ridesBatch(2048, &sec, &off)
					if input == "parsed" {
						for _, m := range batch {
							if _, err := m.AsStructured(); err != nil {
								b.Fatal(err)
							}
						}
					}
					b.StartTimer()
					if _, err := p.ProcessBatch(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
					events += 2048
				}
				b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkCheckpoint is the cost added to each batch: encode the rides state
// and write it to the checkpoint store (local: temp + fsync + rename + dir
// fsync; memory for comparison).
func BenchmarkCheckpoint(b *testing.B) {
	for _, kind := range []string{"local", "memory"} {
		b.Run(kind, func(b *testing.B) {
			url := b.TempDir()
			if kind == "memory" {
				url = "memory://bench-" + fmt.Sprint(time.Now().UnixNano())
			}
			kv, err := store.Open(context.Background(), url, objstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			conf := ridesYAML[:len(ridesYAML)-len("state:\n  cache: window_state\n  key: rides_agg\n")]
			p := build(b, conf, service.MockResources(), newClock())
			var sec, off int
			for i := 0; i < 50; i++ { // a steady state: ~3 open windows × 5 cities
				if _, err := p.ProcessBatch(context.Background(), ridesBatch(2048, &sec, &off)); err != nil {
					b.Fatal(err)
				}
			}
			eng := p.eng
			var size int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				data, err := eng.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				if err := kv.Set(context.Background(), "rides_agg", data); err != nil {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.ReportMetric(float64(size), "state_bytes")
		})
	}
}
