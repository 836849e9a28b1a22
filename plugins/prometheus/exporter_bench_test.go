package prometheus

import (
	"io"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/miaradia/rides-connect/plugins/prometheus/promexport"
)

func benchExporter(b *testing.B, histogram bool) *exporter {
	b.Helper()
	c := config{registry: promexport.Options{
		Histogram:  histogram,
		Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001},
	}}
	e, err := newExporter(c, nil, hooks{})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// What a plugin pays per update, as Benthos calls it: the label values are
// resolved on every call (service.MetricCounter.Incr(n, values...)).
func BenchmarkCounterIncr(b *testing.B) {
	ctor := benchExporter(b, true).NewCounterCtor("kafka_input_records_total", "label", "path", "topic", "partition")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctor("rides_in", "root.input", "rides", "3").Incr(1)
		}
	})
}

func BenchmarkGaugeSet(b *testing.B) {
	ctor := benchExporter(b, true).NewGaugeCtor("window_watermark_ms", "label", "path")
	b.RunParallel(func(pb *testing.PB) {
		i := int64(0)
		for pb.Next() {
			i++
			ctor("window_rides", "root.pipeline.processors.1").Set(i)
		}
	})
}

func BenchmarkTimerHistogram(b *testing.B) {
	ctor := benchExporter(b, true).NewTimerCtor("processor_latency_ns", "label", "path")
	b.RunParallel(func(pb *testing.PB) {
		i := int64(0)
		for pb.Next() {
			i++
			ctor("parse_ride", "root.pipeline.processors.0").Timing(i % 5_000_000)
		}
	})
}

func BenchmarkTimerSummary(b *testing.B) {
	ctor := benchExporter(b, false).NewTimerCtor("processor_latency_ns", "label", "path")
	b.RunParallel(func(pb *testing.PB) {
		i := int64(0)
		for pb.Next() {
			i++
			ctor("parse_ride", "root.pipeline.processors.0").Timing(i % 5_000_000)
		}
	})
}

// A scrape of a job-sized registry: 6 partitions × 5 families, 20 timers, runtime collectors.
func BenchmarkScrape(b *testing.B) {
	e, err := newExporter(config{registry: promexport.Options{Histogram: true, GoMetrics: true, ProcessMetrics: true}}, nil, hooks{})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"kafka_input_records_total", "kafka_input_bytes_total", "a_total", "b_total", "c_total"} {
		for p := 0; p < 6; p++ {
			e.NewCounterCtor(name, "label", "path", "topic", "partition")("in", "root.input", "rides", strconv.Itoa(p)).Incr(1)
		}
	}
	for i := 0; i < 20; i++ {
		e.NewTimerCtor("t"+strconv.Itoa(i)+"_ns", "label", "path")("x", "root").Timing(1000)
	}
	h := e.HandlerFunc()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest("GET", "/metrics", nil))
		_, _ = io.Copy(io.Discard, rec.Body)
	}
}
