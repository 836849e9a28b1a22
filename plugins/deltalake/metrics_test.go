package deltalake

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// recorder is a metrics exporter that keeps the latest value of every series.
type recorder struct {
	mu   sync.Mutex
	vals map[string]int64
}

type recSeries struct {
	r   *recorder
	key string
	set bool
}

func (s recSeries) Incr(n int64)   { s.r.add(s.key, n, false) }
func (s recSeries) Timing(n int64) { s.r.add(s.key, 1, false) }
func (s recSeries) Set(v int64)    { s.r.add(s.key, v, true) }
func (r *recorder) add(k string, v int64, set bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if set {
		r.vals[k] = v
	} else {
		r.vals[k] += v
	}
}

func (r *recorder) get(k string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vals[k]
}

func seriesKey(name string, keys, vals []string) string {
	var labels []string
	for i, k := range keys {
		if k == "label" || k == "path" {
			continue
		}
		labels = append(labels, k+"="+vals[i])
	}
	if len(labels) == 0 {
		return name
	}
	return name + "{" + strings.Join(labels, ",") + "}"
}

func (r *recorder) NewCounterCtor(name string, keys ...string) service.MetricsExporterCounterCtor {
	return func(vals ...string) service.MetricsExporterCounter {
		return recSeries{r, seriesKey(name, keys, vals), false}
	}
}
func (r *recorder) NewTimerCtor(name string, keys ...string) service.MetricsExporterTimerCtor {
	return func(vals ...string) service.MetricsExporterTimer {
		return recSeries{r, seriesKey(name, keys, vals), false}
	}
}
func (r *recorder) NewGaugeCtor(name string, keys ...string) service.MetricsExporterGaugeCtor {
	return func(vals ...string) service.MetricsExporterGauge {
		return recSeries{r, seriesKey(name, keys, vals), true}
	}
}
func (r *recorder) Close(context.Context) error { return nil }

// startOutputWithMetrics runs a delta_lake output whose metrics go to exp,
// stopped when the test ends, and returns a send that fails the test if a
// batch is not acknowledged.
func startOutputWithMetrics(t *testing.T, exp service.MetricsExporter) func(service.MessageBatch) {
	t.Helper()
	env := service.NewEnvironment()
	if err := env.RegisterMetricsExporter("delta_test_metrics", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return exp, nil }); err != nil {
		t.Fatal(err)
	}
	b := env.NewStreamBuilder()
	if err := b.SetYAML(fmt.Sprintf(`
logger: { level: none }
metrics: { delta_test_metrics: {} }
output:
  delta_lake:
    path: %s%s
    idempotency: { mode: sequence, app_id: m }
`, t.TempDir(), strings.ReplaceAll(schemaYAML, "\n", "\n  "))); err != nil {
		t.Fatal(err)
	}
	prod, strm := buildProducing(t, b)
	go func() { _ = strm.Run(context.Background()) }()
	t.Cleanup(func() { _ = strm.Stop(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return func(batch service.MessageBatch) {
		t.Helper()
		if err := prod(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutputMetrics(t *testing.T) {
	rec := &recorder{vals: map[string]int64{}}
	send := startOutputWithMetrics(t, rec)
	send(emission(1, "PARIS", "LYON"))
	send(emission(2, "PARIS"))
	send(emission(1, "PARIS", "LYON")) // replay: skipped
	bad := service.NewMessage([]byte(`{"city":"X"}`))
	bad.MetaSetMut("window_emit_seq", "3")
	send(service.MessageBatch{bad})
	for k, want := range map[string]int64{
		"delta_commits_total":                              2,
		"delta_rows_written_total":                         3,
		"delta_rows_skipped_total":                         2,
		"delta_files_written_total":                        2,
		"delta_table_version":                              2,
		"delta_commit_latency_ns":                          4,
		"delta_rows_invalid_total{reason=schema_mismatch}": 1,
	} {
		if got := rec.get(k); got != want {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}
	if rec.get("delta_bytes_written_total") <= 0 {
		t.Error("delta_bytes_written_total not counted")
	}
}
