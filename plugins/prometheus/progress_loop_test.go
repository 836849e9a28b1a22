package prometheus

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// lines is an io.Writer that hands every written line to the test.
type lines chan []byte

func (l lines) Write(p []byte) (int, error) {
	l <- append([]byte(nil), p...)
	return len(p), nil
}

func (l lines) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case b := <-l:
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("progress line is not JSON: %v: %s", err, b)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no progress line written")
	}
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestProgressEventsFromExporterMetrics(t *testing.T) {
	pc, err := configSpec().ParseYAML(`progress_name: rides_agg`, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := configFromParsed(pc)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	out, tick := make(lines, 8), make(chan time.Time)
	e, err := newExporter(c, service.MockResources().Logger(), hooks{now: clk.now, progressTick: tick, progressOut: out})
	if err != nil {
		t.Fatal(err)
	}
	started := out.next(t)
	if started["event"] != "started" || started["name"] != "rides_agg" || started["timestamp"] != "2026-11-26T12:00:00.000Z" {
		t.Fatalf("started = %v", started)
	}

	// Plugins record through the Benthos-facing constructors.
	in := e.NewCounterCtor("input_received", "label", "path")("", "root.input")
	wm := e.NewGaugeCtor("window_watermark_ms", "label", "path")("", "root.pipeline.processors.2")
	ver := e.NewGaugeCtor("delta_table_version", "label", "path")("", "root.output")
	late := e.NewCounterCtor("window_late_rows_total", "label", "path")("", "root.pipeline.processors.2")
	in.Incr(120)
	late.Incr(3)
	wm.Set(time.Date(2026, 11, 26, 11, 50, 0, 0, time.UTC).UnixMilli())
	ver.Set(4)

	clk.advance(10 * time.Second)
	tick <- time.Time{}
	p := out.next(t)
	if p["event"] != "progress" || p["batchId"] != 0.0 || p["numInputRows"] != 120.0 || p["inputRowsPerSecond"] != 12.0 {
		t.Errorf("progress = %v", p)
	}
	if et, _ := p["eventTime"].(map[string]any); et["watermark"] != "2026-11-26T11:50:00.000Z" {
		t.Errorf("eventTime = %v", p["eventTime"])
	}
	if sink, _ := p["sink"].(map[string]any); sink["version"] != 4.0 {
		t.Errorf("sink = %v", p["sink"])
	}
	ops, _ := p["stateOperators"].([]any)
	if len(ops) != 1 || ops[0].(map[string]any)["numRowsDroppedByWatermark"] != 3.0 {
		t.Errorf("stateOperators = %v", p["stateOperators"])
	}

	in.Incr(5)
	clk.advance(time.Second)
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	final := out.next(t)
	if final["event"] != "progress" || final["batchId"] != 1.0 || final["numInputRows"] != 5.0 {
		t.Errorf("final progress = %v", final)
	}
	if term := out.next(t); term["event"] != "terminated" || term["runId"] != started["runId"] || term["id"] != started["id"] {
		t.Errorf("terminated = %v (started %v)", term, started)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case b := <-out:
		t.Errorf("second Close wrote %s", b)
	default:
	}
}

func TestProgressDisabled(t *testing.T) {
	pc, _ := configSpec().ParseYAML(`progress_interval: 0s`, nil)
	c, err := configFromParsed(pc)
	if err != nil {
		t.Fatal(err)
	}
	out := make(lines, 8)
	e, err := newExporter(c, nil, hooks{progressOut: out})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Close(context.Background())
	if len(out) != 0 {
		t.Errorf("progress_interval 0s still wrote %d events", len(out))
	}
}
