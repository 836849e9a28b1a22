package window

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/miaradia/rides-connect/plugins/checkpoint"
	_ "github.com/miaradia/rides-connect/plugins/kafkafranz"
)

// benchCounter counts messages reaching it; a pipeline is drained when it
// has seen every record of the topic.
var benchSeen atomic.Int64

func init() {
	service.MustRegisterBatchProcessor("window_bench_count", service.NewConfigSpec().Summary("test only"),
		func(*service.ParsedConfig, *service.Resources) (service.BatchProcessor, error) { return counter{}, nil })
}

type counter struct{}

func (counter) ProcessBatch(_ context.Context, b service.MessageBatch) ([]service.MessageBatch, error) {
	benchSeen.Add(int64(len(b)))
	return []service.MessageBatch{b}, nil
}
func (counter) Close(context.Context) error { return nil }

// BenchmarkPipeline drains a prefilled topic (6 partitions, rides JSON)
// through kafka_franz → drop, and kafka_franz → parse → tumbling_window
// (checkpointed on local disk) → drop. One op = one drain of the topic.
// Run: go test ./plugins/window/ -run XXX -bench Pipeline -benchtime 3x
func BenchmarkPipeline(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_EVENTS")); err == nil {
		n = v
	}
	c, err := kfake.NewCluster(kfake.SeedTopics(6, "rides"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("rides"))
	if err != nil {
		b.Fatal(err)
	}
	cities := []string{"fr", "us", "de", "mg", "uk"}
	recs := make([]*kgo.Record, 0, 10_000)
	for i := 0; i < n; i++ {
		v, _ := json.Marshal(map[string]any{"rideId": i, "userId": i % 1000, "city": cities[i%5], "distanceKm": 5 + float64(i%20),
			"price": float64(i%5000) / 100, "ts": time.Unix(1_773_446_400+int64(i/10), 0).UTC().Format(time.RFC3339)})
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: v})
		if len(recs) == cap(recs) || i == n-1 {
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	cl.Close()

	procs := map[string]string{
		"kafka_drop": `
    - window_bench_count: {}`,
		"kafka_parse_window_drop": `
    - window_bench_count: {}
    - mapping: |
        root = this
        root.city = this.city.uppercase()
    - tumbling_window:
        timestamp: this.ts
        size: 5m
        watermark: { delay: 10m }
        group_by: { city: this.city }
        aggregates:
          revenue: { op: sum, value: this.price }
          avg_distance: { op: avg, value: this.distanceKm }
          cnt: { op: count }
        state: { cache: window_state, key: rides_agg }`,
	}
	for _, name := range []string{"kafka_drop", "kafka_parse_window_drop"} {
		b.Run(name, func(b *testing.B) {
			var events int
			for i := 0; i < b.N; i++ {
				benchSeen.Store(0)
				yaml := fmt.Sprintf(`
logger: { level: WARN }
input:
  kafka_franz:
    seed_brokers: [ %q ]
    topics: [ rides ]
    consumer_group: bench-%s-%d-%d
    start_offset: earliest
    batching: { count: 2048, period: 50ms }
pipeline:
  threads: 1
  processors:%s
output:
  drop: {}
cache_resources:
  - label: window_state
    checkpoint: { url: %q }
`, addr, name, i, time.Now().UnixNano(), procs[name], b.TempDir())
				sb := service.NewStreamBuilder()
				if err := sb.SetYAML(yaml); err != nil {
					b.Fatal(err)
				}
				st, err := sb.Build()
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				go func() { _ = st.Run(context.Background()) }()
				deadline := time.Now().Add(2 * time.Minute)
				for benchSeen.Load() < int64(n) {
					if time.Now().After(deadline) {
						b.Fatalf("drained %d of %d records in 2 min", benchSeen.Load(), n)
					}
					time.Sleep(2 * time.Millisecond) // polling the drain, not waiting for time to pass
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := st.Stop(ctx); err != nil {
					b.Fatal(err)
				}
				cancel()
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "drain_ms")
				events += n
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
