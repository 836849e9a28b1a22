package promexport

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves the registry over real HTTP and parses the text exposition
// with the Prometheus parser, as a Prometheus server would.
func scrape(t *testing.T, r *Registry) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q, want the text exposition format", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := (&p).TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, body)
	}
	return fams, string(body)
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("family %s not exposed", name)
	}
	for _, m := range f.GetMetric() {
		got := labelsOf(m)
		match := len(got) == len(labels)
		for k, v := range labels {
			if got[k] != v {
				match = false
			}
		}
		if match {
			return m
		}
	}
	t.Fatalf("family %s has no series with labels %v", name, labels)
	return nil
}

func newReg(t *testing.T, o Options) (*Registry, *[]error) {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	o.OnError = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	r, err := NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, &errs
}

func TestCountersGaugesAndLabels(t *testing.T) {
	r, errs := newReg(t, Options{Histogram: true})
	rec := r.Counter("kafka_input_records_total", "label", "path", "topic", "partition")
	rec("in", "root.input", "rides", "0").Add(3)
	rec("in", "root.input", "rides", "0").Add(2)
	rec("in", "root.input", "rides", "1").Add(7)
	rec("in", "root.input", "rides", "1").Add(-4) // ignored, counters never go down

	wm := r.Gauge("window_watermark_ms", "label", "path")
	wm("", "root.pipeline.processors.1").Set(1.7e12)
	wm("", "root.pipeline.processors.1").Set(1.7e12 + 5000)

	// A user-defined name and label with characters Prometheus refuses.
	r.Counter("dead.letter-rows", "dlq reason")("bad_json").Add(1)

	fams, _ := scrape(t, r)
	if f := fams["kafka_input_records_total"]; f.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("type %v, want counter", f.GetType())
	}
	p0 := find(t, fams, "kafka_input_records_total", map[string]string{"label": "in", "path": "root.input", "topic": "rides", "partition": "0"})
	if v := p0.GetCounter().GetValue(); v != 5 {
		t.Errorf("partition 0 = %v, want 5", v)
	}
	p1 := find(t, fams, "kafka_input_records_total", map[string]string{"label": "in", "path": "root.input", "topic": "rides", "partition": "1"})
	if v := p1.GetCounter().GetValue(); v != 7 {
		t.Errorf("partition 1 = %v, want 7 (negative increment must be dropped)", v)
	}
	g := find(t, fams, "window_watermark_ms", map[string]string{"label": "", "path": "root.pipeline.processors.1"})
	if fams["window_watermark_ms"].GetType() != dto.MetricType_GAUGE || g.GetGauge().GetValue() != 1.7e12+5000 {
		t.Errorf("gauge = %v (%v), want last value set", g.GetGauge().GetValue(), fams["window_watermark_ms"].GetType())
	}
	find(t, fams, "dead_letter_rows", map[string]string{"dlq_reason": "bad_json"})
	if len(*errs) != 0 {
		t.Errorf("unexpected errors: %v", *errs)
	}
}

func TestTimerAsHistogramInSeconds(t *testing.T) {
	buckets := []float64{0.001, 0.01, 0.1, 1}
	r, _ := newReg(t, Options{Histogram: true, Buckets: buckets})
	obs := r.Timer("delta_commit_latency_ns", "label", "path")("lake", "root.output")
	for _, ns := range []float64{5e5, 5e6, 5e6, 2e9} { // 0.5ms, 5ms, 5ms, 2s
		obs.Observe(ns / 1e9)
	}
	fams, _ := scrape(t, r)
	if _, ok := fams["delta_commit_latency_ns"]; ok {
		t.Fatal("timer kept its _ns name; it must be exported in seconds")
	}
	f := fams["delta_commit_latency_seconds"]
	if f.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("type %v, want histogram", f.GetType())
	}
	h := find(t, fams, "delta_commit_latency_seconds", map[string]string{"label": "lake", "path": "root.output"}).GetHistogram()
	if h.GetSampleCount() != 4 || math.Abs(h.GetSampleSum()-2.0105) > 1e-9 {
		t.Errorf("count %d sum %v, want 4 and 2.0105", h.GetSampleCount(), h.GetSampleSum())
	}
	want := map[float64]uint64{0.001: 1, 0.01: 3, 0.1: 3, 1: 3, math.Inf(1): 4}
	if len(h.GetBucket()) != len(buckets)+1 {
		t.Fatalf("%d buckets, want %d and +Inf", len(h.GetBucket()), len(buckets))
	}
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() != want[b.GetUpperBound()] {
			t.Errorf("bucket le=%v count %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want[b.GetUpperBound()])
		}
	}
}

func TestTimerAsSummary(t *testing.T) {
	r, _ := newReg(t, Options{Objectives: map[float64]float64{0.5: 0.05, 0.99: 0.001}})
	obs := r.Timer("input_latency_ns", "label", "path")("", "root.input")
	for i := 1; i <= 100; i++ {
		obs.Observe(float64(i) / 1000)
	}
	fams, _ := scrape(t, r)
	f := fams["input_latency_seconds"]
	if f.GetType() != dto.MetricType_SUMMARY {
		t.Fatalf("type %v, want summary", f.GetType())
	}
	s := f.GetMetric()[0].GetSummary()
	if s.GetSampleCount() != 100 {
		t.Errorf("count %d, want 100", s.GetSampleCount())
	}
	qs := map[float64]float64{}
	for _, q := range s.GetQuantile() {
		qs[q.GetQuantile()] = q.GetValue()
	}
	if len(qs) != 2 || math.Abs(qs[0.5]-0.050) > 0.006 || math.Abs(qs[0.99]-0.099) > 0.002 {
		t.Errorf("quantiles %v, want p50≈0.050 and p99≈0.099", qs)
	}
}

func TestSharedAndConflictingDefinitions(t *testing.T) {
	r, errs := newReg(t, Options{Histogram: true})
	// Two inputs ask for the same counter: both feed one family.
	r.Counter("input_received", "label", "path")("a", "root.input.broker.inputs.0").Add(1)
	r.Counter("input_received", "label", "path")("b", "root.input.broker.inputs.1").Add(2)
	// Same name as a gauge, and with other labels: refused, reported, harmless.
	r.Gauge("input_received", "label", "path")("c", "x").Set(9)
	r.Counter("input_received", "label")("d").Add(9)
	// Wrong number of label values: refused, reported once, harmless.
	bad := r.Counter("window_late_rows_total", "label", "path")
	bad("only-one").Add(1)
	bad("only-one").Add(1)

	fams, _ := scrape(t, r)
	if n := len(fams["input_received"].GetMetric()); n != 2 {
		t.Errorf("input_received has %d series, want 2", n)
	}
	// Reported once per name and problem: one clash (the second clash on
	// the same name is not repeated) and one value-count error.
	if len(*errs) != 2 {
		t.Fatalf("got %d reported errors, want 2 (clash, value count): %v", len(*errs), *errs)
	}
	for _, e := range *errs {
		if !strings.Contains(e.Error(), "input_received") && !strings.Contains(e.Error(), "window_late_rows_total") {
			t.Errorf("error does not name the metric: %v", e)
		}
	}
}

func TestRuntimeCollectors(t *testing.T) {
	r, _ := newReg(t, Options{GoMetrics: true, ProcessMetrics: true})
	fams, _ := scrape(t, r)
	for _, name := range []string{
		"go_goroutines", "go_gc_duration_seconds",
		"go_cpu_classes_gc_total_cpu_seconds_total", "go_cpu_classes_total_cpu_seconds_total",
		"process_cpu_seconds_total", "process_resident_memory_bytes",
	} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s not exposed", name)
		}
	}
	r2, _ := newReg(t, Options{})
	fams2, _ := scrape(t, r2)
	for name := range fams2 {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			t.Errorf("%s exposed although Go/process metrics are off", name)
		}
	}
}

func TestOptionsValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		o     Options
		field string
	}{
		{Options{Buckets: []float64{0.1, 0.05}}, "histogram_buckets"},
		{Options{Buckets: []float64{1, 1}}, "histogram_buckets"},
		{Options{Objectives: map[float64]float64{1.5: 0.01}}, "summary_quantiles_objectives"},
		{Options{Objectives: map[float64]float64{0.5: 0}}, "summary_quantiles_objectives"},
	} {
		_, err := NewRegistry(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: error %v, want one naming %s", tc.o, err, tc.field)
		}
	}
}

// Benthos calls the constructors and handles from every pipeline thread.
func TestConcurrentUse(t *testing.T) {
	r, errs := newReg(t, Options{Histogram: true})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				r.Counter("rows_total", "worker")(fmt.Sprint(w % 2)).Add(1)
				r.Gauge("open", "worker")(fmt.Sprint(w % 2)).Set(float64(i))
				r.Timer("lat_ns")().Observe(0.001)
			}
		}(w)
	}
	wg.Wait()
	fams, _ := scrape(t, r)
	total := 0.0
	for _, m := range fams["rows_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != 4000 {
		t.Errorf("rows_total = %v, want 4000", total)
	}
	if c := fams["lat_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); c != 4000 {
		t.Errorf("lat_seconds count = %d, want 4000", c)
	}
	if len(*errs) != 0 {
		t.Errorf("errors: %v", *errs)
	}
}

// Label keys Prometheus reserves or that collide once sanitised must not
// panic inside a pipeline thread.
func TestReservedAndCollidingLabels(t *testing.T) {
	for _, hist := range []bool{true, false} {
		r, errs := newReg(t, Options{Histogram: hist})
		r.Timer("lat_ns", "le", "quantile")("a", "b").Observe(0.1)
		r.Counter("c_total", "a.b", "a_b")("x", "y").Add(1)
		fams, _ := scrape(t, r)
		find(t, fams, "lat_seconds", map[string]string{"le_": "a", "quantile_": "b"})
		if _, ok := fams["c_total"]; ok {
			t.Error("c_total exported with colliding labels")
		}
		if len(*errs) != 1 || !strings.Contains((*errs)[0].Error(), "c_total") {
			t.Errorf("errors %v, want one naming c_total", *errs)
		}
	}
}
