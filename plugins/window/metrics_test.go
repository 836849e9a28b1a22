package window

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/miaradia/rides-connect/plugins/checkpoint"
)

// recorder is a metrics exporter that keeps the last value of every series.
type recorder struct {
	mu   sync.Mutex
	vals map[string]int64
}

func newRecorder() *recorder { return &recorder{vals: map[string]int64{}} }

// recordingBuilder returns a stream builder whose metrics `window_test_recorder: {}`
// go to r, a recorder of the calling test alone: a process-wide one summed
// the counters of every stream and every -count run.
func recordingBuilder(t *testing.T, r *recorder) *service.StreamBuilder {
	t.Helper()
	env := service.NewEnvironment()
	if err := env.RegisterMetricsExporter("window_test_recorder", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return r, nil }); err != nil {
		t.Fatal(err)
	}
	return env.NewStreamBuilder()
}

var memStores atomic.Int64

// freshMemoryURL names a memory checkpoint store no earlier test or -count
// run used (memory stores are process-wide by name and keep their state).
func freshMemoryURL(name string) string {
	return fmt.Sprintf("memory://%s-%d", name, memStores.Add(1))
}

type series struct {
	r    *recorder
	name string
}

func (s series) Incr(n int64) { s.r.mu.Lock(); s.r.vals[s.name] += n; s.r.mu.Unlock() }
func (s series) Set(v int64)  { s.r.mu.Lock(); s.r.vals[s.name] = v; s.r.mu.Unlock() }
func (s series) Timing(int64) { s.Incr(1) }

func (r *recorder) name(n string, keys, vals []string) string {
	var l []string
	for i, k := range keys {
		if k != "label" && k != "path" {
			l = append(l, k+"="+vals[i])
		}
	}
	return n + "{" + strings.Join(l, ",") + "}"
}
func (r *recorder) NewCounterCtor(n string, keys ...string) service.MetricsExporterCounterCtor {
	return func(vals ...string) service.MetricsExporterCounter { return series{r, r.name(n, keys, vals)} }
}
func (r *recorder) NewTimerCtor(n string, keys ...string) service.MetricsExporterTimerCtor {
	return func(vals ...string) service.MetricsExporterTimer { return series{r, r.name(n, keys, vals)} }
}
func (r *recorder) NewGaugeCtor(n string, keys ...string) service.MetricsExporterGaugeCtor {
	return func(vals ...string) service.MetricsExporterGauge { return series{r, r.name(n, keys, vals)} }
}
func (r *recorder) Close(context.Context) error { return nil }

// Every window_* metric of docs/metrics.md is emitted, with the values the
// batch implies.
func TestMetricsOfDocsMetricsMdAreEmitted(t *testing.T) {
	rec := newRecorder()
	sb := recordingBuilder(t, rec)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sb.SetMetricsYAML("window_test_recorder: {}"))
	must(sb.AddCacheYAML("label: window_state\ncheckpoint:\n  url: " + freshMemoryURL("metrics-test")))
	must(sb.AddProcessorYAML("tumbling_window:\n  " + strings.ReplaceAll(strings.TrimSpace(ridesYAML+"late_rows: error\n"), "\n", "\n  ")))
	var emitted, errored int
	must(sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		for _, m := range b {
			if m.GetError() != nil {
				errored++
			} else {
				emitted++
			}
		}
		return nil
	}))
	send, err := sb.AddBatchProducerFunc()
	must(err)
	st, err := sb.Build()
	must(err)
	done := make(chan error, 1)
	go func() { done <- st.Run(context.Background()) }()
	ctx := context.Background()
	must(send(ctx, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0), msg("FR", "2026-03-14T00:20:00Z", 1, 1, 0, 1)}))
	must(send(ctx, service.MessageBatch{
		msg("FR", "2026-03-14T00:02:00Z", 1, 1, 0, 1),          // replayed offset
		msg("FR", "2026-03-14T00:03:00Z", 1, 1, 0, 2),          // late (window closed)
		service.NewMessage([]byte(`{"city":"FR","ts":"bad"}`)), // invalid
		msg("US", "2026-03-14T00:21:00Z", 1, 1, 0, 3),
	}))
	must(st.Stop(ctx))
	<-done

	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := map[string]int64{
		"window_input_rows_total{}":                       3,
		"window_late_rows_total{}":                        1,
		"window_replayed_rows_total{}":                    1,
		"window_invalid_rows_total{reason=bad_timestamp}": 1,
		"window_emitted_rows_total{}":                     int64(emitted),
		"window_open_windows{}":                           2,
		"window_watermark_ms{}":                           1773447060000, // 00:21 − 10m
		"window_max_event_time_ms{}":                      1773447660000, // 00:21
		"window_checkpoint_writes_total{}":                2,
		"window_checkpoint_latency_ns{}":                  2,
	}
	for k, v := range want {
		if rec.vals[k] != v {
			t.Errorf("%s = %d, want %d", k, rec.vals[k], v)
		}
	}
	// [00:00,00:05) is emitted by batch 1 and again by batch 2, whose replayed
	// offset 1 belongs to the batch that produced it.
	if emitted != 2 || errored != 2 {
		t.Errorf("emitted %d errored %d, want 2 and 2", emitted, errored)
	}
	for _, k := range []string{"window_state_bytes{}", "window_watermark_lag_seconds{}"} {
		if _, ok := rec.vals[k]; !ok {
			t.Errorf("%s not emitted", k)
		}
	}
	// And every window_* name of docs/metrics.md's tumbling_window table is
	// one we emit (the stage table: TestStageMetricsNameThePartitionHoldingTheWatermark).
	var missing []string
	for _, name := range documentedMetrics(t, "## tumbling_window\n") {
		found := false
		for k := range rec.vals {
			found = found || strings.HasPrefix(k, name+"{")
		}
		if !found {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented but not emitted: %v (have %v)", missing, fmt.Sprint(rec.vals))
	}
}

// documentedMetrics returns the window_* names in the section of
// docs/metrics.md that starts with heading (up to the next "## ").
func documentedMetrics(t *testing.T, heading string) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), heading)
	if !ok {
		t.Fatalf("docs/metrics.md has no section %q", heading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var names []string
	for _, m := range regexp.MustCompile("`(window_[a-z_]+)`").FindAllStringSubmatch(section, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("docs/metrics.md section %q names no window_* metric", heading)
	}
	return names
}
