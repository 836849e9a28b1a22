package prometheus

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// runStream runs a finite stream built from yaml with /metrics on a test
// HTTP server, and returns the scrape taken after the input is drained.
func runStream(t *testing.T, yaml string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	b := service.NewStreamBuilder()
	mux := http.NewServeMux()
	b.SetHTTPMux(mux)
	if err := b.SetYAML(yaml); err != nil {
		t.Fatal(err)
	}
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("stream: %v", err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	return scrapeURL(t, srv.URL+"/metrics")
}

func scrapeURL(t *testing.T, url string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := (&p).TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v\n%s", err, body)
	}
	return fams, string(body)
}

func series(f *dto.MetricFamily, labels map[string]string) *dto.Metric {
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range labels {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			return m
		}
	}
	return nil
}

const pipelineYAML = `
input:
  label: gen
  generate:
    count: 25
    interval: ""
    mapping: 'root = {"city": "fr", "n": counter()}'
pipeline:
  threads: 2
  processors:
    - mapping: 'root = this'
    - metric:
        type: counter
        name: rides.seen-total
        labels:
          city: ${! json("city") }
output:
  label: sink
  drop: {}
`

func TestStreamServesPrometheusMetrics(t *testing.T) {
	fams, body := runStream(t, pipelineYAML+`
metrics:
  prometheus:
    progress_interval: 0s
`)
	in := fams["input_received"]
	if in.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("input_received missing or not a counter:\n%s", body)
	}
	m := series(in, map[string]string{"label": "gen", "path": "root.input"})
	if m == nil || m.GetCounter().GetValue() != 25 {
		t.Fatalf("input_received{label=gen,path=root.input} = %v, want 25\n%s", m, body)
	}
	// A user metric with a dotted, dashed name keeps its labels.
	if m := series(fams["rides_seen_total"], map[string]string{"city": "fr"}); m == nil || m.GetCounter().GetValue() != 25 {
		t.Errorf("rides_seen_total{city=fr} = %v, want 25\n%s", m, body)
	}
	// Benthos timers become second histograms.
	lat := fams["processor_latency_seconds"]
	if lat.GetType() != dto.MetricType_HISTOGRAM || lat.GetMetric()[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("processor_latency_seconds not a filled histogram:\n%s", body)
	}
	if _, ok := fams["processor_latency_ns"]; ok {
		t.Error("processor_latency_ns exported under its nanosecond name")
	}
	if m := series(fams["output_sent"], map[string]string{"label": "sink"}); m == nil || m.GetCounter().GetValue() != 25 {
		t.Errorf("output_sent{label=sink} = %v, want 25", m)
	}
	for _, name := range []string{"go_goroutines", "go_cpu_classes_gc_total_cpu_seconds_total", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s not exposed with default add_go_metrics/add_process_metrics", name)
		}
	}
}

func TestSummaryTimingAndNoRuntimeMetrics(t *testing.T) {
	fams, body := runStream(t, pipelineYAML+`
metrics:
  prometheus:
    use_histogram_timing: false
    add_go_metrics: false
    add_process_metrics: false
    progress_interval: 0s
`)
	if fams["processor_latency_seconds"].GetType() != dto.MetricType_SUMMARY {
		t.Errorf("processor_latency_seconds is not a summary:\n%s", body)
	}
	if q := fams["processor_latency_seconds"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 3 {
		t.Errorf("%d quantiles, want the 3 default objectives", len(q))
	}
	for name := range fams {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			t.Errorf("%s exposed although disabled", name)
		}
	}
}

// Being registered under the name "prometheus" makes it Benthos' default.
func TestPrometheusIsTheDefaultExporter(t *testing.T) {
	fams, body := runStream(t, pipelineYAML)
	if _, ok := fams["input_received"]; !ok {
		t.Fatalf("no metrics section: /metrics is not served by this exporter:\n%s", body)
	}
}

func TestLintRejectsBadConfigNamingTheField(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`prometheus: { histogram_buckets: [1, 0.5] }`, "histogram_buckets"},
		{`prometheus: { histogram_buckets: [0.5, 0.5] }`, "histogram_buckets"},
		{`prometheus: { summary_quantiles_objectives: [ { quantile: 1.5, error: 0.01 } ] }`, "summary_quantiles_objectives"},
		{`prometheus: { summary_quantiles_objectives: [ { quantile: 0.5, error: 0 } ] }`, "summary_quantiles_objectives"},
		{`prometheus: { push_basic_auth: { username: u, password: p } }`, "push_url"},
		{`prometheus: { progress_output: syslog }`, "progress_output"},
	} {
		err := service.NewStreamBuilder().SetMetricsYAML(tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: lint error %v, want one naming %s", tc.yaml, err, tc.want)
		}
	}
	if err := service.NewStreamBuilder().SetMetricsYAML(`prometheus: { histogram_buckets: [0.01, 0.1, 1] }`); err != nil {
		t.Errorf("valid buckets refused: %v", err)
	}
}

func TestConstructorRejectsWhatLintCannotSee(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`progress_interval: -5s`, "progress_interval"},
		{`push_interval: -1s`, "push_interval"},
		{`histogram_buckets: [2, 1]`, "histogram_buckets"},
	} {
		pc, err := configSpec().ParseYAML(tc.yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := configFromParsed(pc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s", tc.yaml, err, tc.want)
		}
	}
}

func TestPushGatewayFromConfig(t *testing.T) {
	type push struct {
		path, user string
		names      map[string]bool
	}
	got := make(chan push, 4)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _, _ := r.BasicAuth()
		p := push{path: r.URL.Path, user: u, names: map[string]bool{}}
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			var f dto.MetricFamily
			if dec.Decode(&f) != nil {
				break
			}
			p.names[f.GetName()] = true
		}
		got <- p
	}))
	defer gw.Close()
	pc, err := configSpec().ParseYAML(`
push_url: `+gw.URL+`
push_interval: 0s
push_job_name: rides-backfill
push_basic_auth: { username: metrics, password: s3cret }
progress_interval: 0s
add_go_metrics: false
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := configFromParsed(pc)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newExporter(c, nil, hooks{})
	if err != nil {
		t.Fatal(err)
	}
	e.NewCounterCtor("delta_commits_total", "label", "path")("lake", "root.output").Incr(2)
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p.path != "/metrics/job/rides-backfill" || p.user != "metrics" || !p.names["delta_commits_total"] {
			t.Errorf("push %+v: want PUT /metrics/job/rides-backfill with basic auth and delta_commits_total", p)
		}
	default:
		t.Fatal("push_interval 0s: no push at Close")
	}
}
