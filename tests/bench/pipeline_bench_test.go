package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"gopkg.in/yaml.v3"
)

// memInput feeds prebuilt rides in batches of 2048, with the eight metadata
// keys kafka_franz sets on each record (six partitions) when asked: the
// Benthos side of a pipeline without a broker in the measurement.
type memInput struct {
	recs [][]byte
	meta bool
	next int
}

func init() {
	service.MustRegisterBatchInput("bench_rides", service.NewConfigSpec().Summary("test only").
		Field(service.NewIntField("count")).Field(service.NewBoolField("metadata")),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchInput, error) {
			n, err := conf.FieldInt("count")
			if err != nil {
				return nil, err
			}
			meta, err := conf.FieldBool("metadata")
			if err != nil {
				return nil, err
			}
			return &memInput{recs: timedRides(n), meta: meta}, nil
		})
}

func (in *memInput) Connect(context.Context) error { return nil }

func (in *memInput) ReadBatch(context.Context) (service.MessageBatch, service.AckFunc, error) {
	if in.next >= len(in.recs) {
		return nil, nil, service.ErrEndOfInput
	}
	end := min(in.next+2048, len(in.recs))
	batch := make(service.MessageBatch, 0, end-in.next)
	for i := in.next; i < end; i++ {
		m := service.NewMessage(in.recs[i])
		if in.meta {
			m.MetaSetMut("kafka_key", strconv.Itoa(i))
			m.MetaSetMut("kafka_topic", "rides")
			m.MetaSetMut("kafka_partition", i%6)
			m.MetaSetMut("kafka_offset", i/6)
			m.MetaSetMut("kafka_timestamp_unix", int64(1_773_446_400+i/20))
			m.MetaSetMut("kafka_timestamp_ms", int64(1_773_446_400_000+i*50))
			m.MetaSetMut("kafka_tombstone_message", false)
			m.MetaSetMut("kafka_lag", int64(len(in.recs)-i))
		}
		batch = append(batch, m)
	}
	in.next = end
	return batch, func(context.Context, error) error { return nil }, nil
}

func (in *memInput) Close(context.Context) error { return nil }

// timedRides are seed-shaped rides 50 ms apart in event time (20 per second),
// so that windows close while the stream runs, as on a backlog.
func timedRides(n int) [][]byte {
	cities := []string{"fr", "us", "de", "mg", "uk"}
	base := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"rideId":%d,"userId":%d,"city":%q,"distanceKm":%d.%02d,"price":%d.%02d,"ts":%q}`,
			100000+i, i%977, cities[i%5], 5+i%20, i%100, 3+i%40, (i*7)%100, base.Add(time.Duration(i)*50*time.Millisecond).Format("2006-01-02T15:04:05.000Z"))
	}
	return out
}

// BenchmarkPipelineOverhead drains N rides (100 000, BENCH_EVENTS overrides)
// from memory through a Benthos stream to `drop`, one pipeline thread, with
// more and more of the rides job in it: nothing (the plumbing), the kafka
// metadata, the parse (the old mapping, then the config's parse_ride step),
// the parse and the config's window_rides step (state checkpointed in a
// temporary directory, as config/rides.yaml does). One op = one drain. It
// reports wall ns and CPU ns (user + system, whole process) per message.
//
//	go test ./tests/bench/ -run '^$' -bench PipelineOverhead -benchtime 3x
func BenchmarkPipelineOverhead(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_EVENTS")); err == nil {
		n = v
	}
	doc := ridesConfig(b)
	parse, window, mapping := step(b, doc, "parse_ride"), step(b, doc, "window_rides"), mappingStep(b)
	for _, c := range []struct {
		name  string
		meta  bool
		procs []map[string]any
	}{
		{"plumbing", false, nil},
		{"metadata", true, nil},
		{"mapping", true, []map[string]any{mapping}},
		{"parse", true, []map[string]any{parse}},
		{"mapping_window", true, []map[string]any{mapping, window}},
		{"parse_window", true, []map[string]any{parse, window}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var wall, cpu time.Duration
			for i := 0; i < b.N; i++ {
				conf, err := yaml.Marshal(map[string]any{
					"logger":   map[string]any{"level": "WARN"},
					"input":    map[string]any{"bench_rides": map[string]any{"count": n, "metadata": c.meta}},
					"pipeline": map[string]any{"threads": 1, "processors": append([]map[string]any{}, c.procs...)},
					"output":   map[string]any{"drop": map[string]any{}},
					"cache_resources": []any{map[string]any{"label": "window_state",
						"checkpoint": map[string]any{"url": b.TempDir()}}},
				})
				if err != nil {
					b.Fatal(err)
				}
				sb := service.NewStreamBuilder()
				if err := sb.SetYAML(string(conf)); err != nil {
					b.Fatalf("%v\n%s", err, conf)
				}
				st, err := sb.Build()
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				cpu0, start := cpuTime(), time.Now()
				err = st.Run(ctx)
				wall += time.Since(start)
				cpu += cpuTime() - cpu0
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			msgs := float64(b.N * n)
			b.ReportMetric(float64(wall.Nanoseconds())/msgs, "ns/msg")
			b.ReportMetric(float64(cpu.Nanoseconds())/msgs, "cpu-ns/msg")
			b.ReportMetric(msgs/wall.Seconds(), "msgs/s")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
