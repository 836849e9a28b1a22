package progress

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/plugins/prometheus/promexport"
)

// fakeClock is moved by hand; no test waits for real time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// pipeline emits metrics the way the plugins do, through the real registry.
type pipeline struct {
	reg *promexport.Registry
}

func newPipeline(t *testing.T) *pipeline {
	r, err := promexport.NewRegistry(promexport.Options{Histogram: true})
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline{reg: r}
}

func (p *pipeline) snap(t *testing.T) Snapshot {
	t.Helper()
	fams, err := p.reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return FromFamilies(fams)
}

func (p *pipeline) count(name string, v float64, kv ...string) {
	keys, vals := split(kv)
	p.reg.Counter(name, keys...)(vals...).Add(v)
}

func (p *pipeline) gauge(name string, v float64, kv ...string) {
	keys, vals := split(kv)
	p.reg.Gauge(name, keys...)(vals...).Set(v)
}

func (p *pipeline) time(name string, d time.Duration) {
	p.reg.Timer(name, "path")("root").Observe(d.Seconds())
}

func split(kv []string) (keys, vals []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		keys, vals = append(keys, kv[i]), append(vals, kv[i+1])
	}
	return
}

func TestProgressFromPipelineMetrics(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t)
	p.count("input_received", 100, "path", "root.input") // before start: not counted
	r := NewReporter(Config{Name: "rides", RunID: "run-1", Now: clk.Now})
	st := r.Started(p.snap(t))
	if st.Event != "started" || st.Timestamp != "2026-11-26T10:00:00.000Z" || st.RunID != "run-1" {
		t.Fatalf("started = %+v", st)
	}

	// Ten seconds of work.
	clk.Advance(10 * time.Second)
	p.count("input_received", 500, "path", "root.input")
	p.count("kafka_input_records_total", 200, "topic", "rides", "partition", "0")
	p.count("kafka_input_records_total", 300, "topic", "rides", "partition", "1")
	p.gauge("kafka_input_lag", 40, "topic", "rides", "partition", "0")
	p.gauge("kafka_input_lag", 2, "topic", "rides", "partition", "1")
	p.gauge("kafka_input_paused_partitions", 1)
	p.time("processor_latency_ns", 2*time.Second)
	p.time("output_latency_ns", 500*time.Millisecond)
	p.count("window_input_rows_total", 480)
	p.count("window_late_rows_total", 20)
	p.count("window_emitted_rows_total", 5)
	p.gauge("window_open_windows", 12)
	p.gauge("window_state_bytes", 4096)
	wm := time.Date(2026, 11, 26, 9, 45, 0, 0, time.UTC)
	p.gauge("window_watermark_ms", float64(wm.UnixMilli()))
	p.gauge("window_max_event_time_ms", float64(wm.Add(10*time.Minute+1500*time.Millisecond).UnixMilli()))
	p.count("delta_rows_written_total", 5)
	p.count("delta_commits_total", 1)
	p.gauge("delta_table_version", 7)
	p.time("delta_commit_latency_ns", 250*time.Millisecond)

	pr := r.Progress(p.snap(t))
	if pr.BatchID != 0 || pr.NumInputRows != 500 || pr.InputRowsPerSecond != 50 {
		t.Errorf("batch %d rows %d rate %v, want 0, 500 (not the 100 before start), 50/s", pr.BatchID, pr.NumInputRows, pr.InputRowsPerSecond)
	}
	if pr.ProcessedRowsPerSecond != 200 { // 500 rows / 2.5 s busy
		t.Errorf("processedRowsPerSecond = %v, want 200", pr.ProcessedRowsPerSecond)
	}
	if pr.DurationMs["triggerExecution"] != 10000 || pr.DurationMs["processing"] != 2500 || pr.DurationMs["deltaCommit"] != 250 {
		t.Errorf("durationMs = %v", pr.DurationMs)
	}
	if pr.EventTime == nil || pr.EventTime.Watermark != "2026-11-26T09:45:00.000Z" || pr.EventTime.Max != "2026-11-26T09:55:01.500Z" {
		t.Errorf("eventTime = %+v", pr.EventTime)
	}
	want := StateOperator{OperatorName: "tumbling_window", NumRowsTotal: 12, NumRowsUpdated: 480, NumRowsDroppedByWatermark: 20, NumRowsEmitted: 5, MemoryUsedBytes: 4096}
	if len(pr.StateOperators) != 1 || pr.StateOperators[0] != want {
		t.Errorf("stateOperators = %+v, want %+v", pr.StateOperators, want)
	}
	if len(pr.Sources) != 1 || pr.Sources[0].NumInputRows != 500 || pr.Sources[0].Metrics["offsetsBehindLatest"] != 42 ||
		pr.Sources[0].Metrics["maxOffsetsBehindLatest"] != 40 || pr.Sources[0].Metrics["pausedPartitions"] != 1 {
		t.Errorf("sources = %+v", pr.Sources)
	}
	if pr.Sink == nil || pr.Sink.Version != 7 || pr.Sink.Commits != 1 || pr.Sink.NumOutputRows != 5 {
		t.Errorf("sink = %+v", pr.Sink)
	}

	// Next interval: deltas, not totals; gauges as they are now.
	clk.Advance(5 * time.Second)
	p.count("input_received", 50, "path", "root.input")
	p.count("window_late_rows_total", 1)
	p.gauge("delta_table_version", 8)
	p.count("delta_commits_total", 1)
	pr = r.Progress(p.snap(t))
	if pr.BatchID != 1 || pr.NumInputRows != 50 || pr.InputRowsPerSecond != 10 {
		t.Errorf("second: batch %d rows %d rate %v, want 1, 50, 10/s", pr.BatchID, pr.NumInputRows, pr.InputRowsPerSecond)
	}
	if pr.ProcessedRowsPerSecond != 10 { // no busy time recorded: falls back to wall time
		t.Errorf("second processedRowsPerSecond = %v, want 10", pr.ProcessedRowsPerSecond)
	}
	if so := pr.StateOperators[0]; so.NumRowsDroppedByWatermark != 1 || so.NumRowsUpdated != 0 || so.NumRowsTotal != 12 {
		t.Errorf("second stateOperators = %+v", so)
	}
	if pr.Sink.Version != 8 || pr.Sink.Commits != 1 {
		t.Errorf("second sink = %+v", pr.Sink)
	}
}

func TestIdleProgressWithoutPlugins(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	p := newPipeline(t)
	r := NewReporter(Config{Name: "q", Now: clk.Now})
	r.Started(p.snap(t))
	clk.Advance(10 * time.Second)
	pr := r.Progress(p.snap(t))
	if pr.NumInputRows != 0 || pr.InputRowsPerSecond != 0 || pr.ProcessedRowsPerSecond != 0 {
		t.Errorf("idle progress counts rows: %+v", pr)
	}
	if pr.EventTime != nil || pr.Sink != nil || len(pr.StateOperators) != 0 || len(pr.Sources) != 0 {
		t.Errorf("idle progress invents components: %+v", pr)
	}
	b, _ := json.Marshal(pr)
	if !strings.Contains(string(b), `"stateOperators":[]`) || !strings.Contains(string(b), `"sources":[]`) {
		t.Errorf("empty lists must be [] not null: %s", b)
	}
}

func TestCounterResetCountsFromZero(t *testing.T) {
	r := NewReporter(Config{Name: "q", Now: (&fakeClock{t: time.Unix(100, 0)}).Now})
	r.Started(Snapshot{mInput: {Sum: 1000}})
	pr := r.Progress(Snapshot{mInput: {Sum: 30}})
	if pr.NumInputRows != 30 {
		t.Errorf("after a reset numInputRows = %d, want 30", pr.NumInputRows)
	}
}

func TestEventJSONUsesSparkFieldNames(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	r := NewReporter(Config{Name: "rides", RunID: "r", Now: clk.Now})
	r.Started(Snapshot{})
	clk.Advance(time.Second)
	b, err := json.Marshal(r.Progress(Snapshot{mWinOpen: {Sum: 1}, mWinWatermark: {Max: 1}, mDeltaVersion: {Max: 0}}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "runId", "name", "timestamp", "batchId", "numInputRows", "inputRowsPerSecond",
		"processedRowsPerSecond", "durationMs", "eventTime", "stateOperators", "sources", "sink"} {
		if _, ok := m[k]; !ok {
			t.Errorf("progress JSON lacks %q: %s", k, b)
		}
	}
	so := m["stateOperators"].([]any)[0].(map[string]any)
	for _, k := range []string{"numRowsTotal", "numRowsUpdated", "numRowsDroppedByWatermark", "memoryUsedBytes"} {
		if _, ok := so[k]; !ok {
			t.Errorf("stateOperators[0] lacks %q", k)
		}
	}
	if m["timestamp"] != "2026-01-02T03:04:06.006Z" {
		t.Errorf("timestamp %v", m["timestamp"])
	}

	tb, _ := json.Marshal(r.Terminated(""))
	if !strings.Contains(string(tb), `"exception":null`) || !strings.Contains(string(tb), `"event":"terminated"`) {
		t.Errorf("clean termination: %s", tb)
	}
	tb, _ = json.Marshal(r.Terminated("input closed: broker gone"))
	if !strings.Contains(string(tb), `"exception":"input closed: broker gone"`) {
		t.Errorf("failed termination: %s", tb)
	}
}

func TestQueryIDStableAcrossRunsRunIDNot(t *testing.T) {
	a := NewReporter(Config{Name: "rides"}).Started(Snapshot{})
	b := NewReporter(Config{Name: "rides"}).Started(Snapshot{})
	c := NewReporter(Config{Name: "other"}).Started(Snapshot{})
	if a.ID != b.ID || a.ID == c.ID {
		t.Errorf("ids %s %s %s: same name must give the same id, another name another", a.ID, b.ID, c.ID)
	}
	if a.RunID == b.RunID || a.RunID == "" {
		t.Errorf("run ids %q %q must differ per run", a.RunID, b.RunID)
	}
}

func TestProgressShowsFailingOutputsByLabel(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t)
	dlq := []string{"label", "dead_letter", "path", "root.output.switch.cases.0.output"}
	agg := []string{"label", "rides_agg", "path", "root.output.switch.cases.1.output"}
	p.gauge("output_failing_seconds", 0, dlq...)
	p.gauge("output_failing_seconds", 0, agg...)
	p.count("output_delivery_failures_total", 2, dlq...)
	p.count("output_delivery_failures_total", 0, agg...)
	r := NewReporter(Config{Name: "rides", Now: clk.Now})
	r.Started(p.snap(t))

	clk.Advance(10 * time.Second)
	p.gauge("output_failing_seconds", 42.5, dlq...)
	p.count("output_delivery_failures_total", 7, dlq...)
	pr := r.Progress(p.snap(t))
	want := []Output{
		{Label: "dead_letter", FailingSeconds: 42.5, FailedWrites: 7},
		{Label: "rides_agg", FailingSeconds: 0, FailedWrites: 0},
	}
	if len(pr.Outputs) != 2 || pr.Outputs[0] != want[0] || pr.Outputs[1] != want[1] {
		t.Fatalf("outputs = %+v, want %+v", pr.Outputs, want)
	}
	b, _ := json.Marshal(pr)
	if !strings.Contains(string(b), `"outputs":[{"label":"dead_letter","failingSeconds":42.5,"failedWrites":7}`) {
		t.Errorf("JSON: %s", b)
	}
}
