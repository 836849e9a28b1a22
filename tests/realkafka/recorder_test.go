package realkafka

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// counters is a metrics exporter that keeps counter totals by metric name
// (summed over labels) so tests can read what the pipeline reported.
type counters struct {
	mu sync.Mutex
	m  map[string]*atomic.Int64
}

func (c *counters) get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[name]; ok {
		return v.Load()
	}
	return 0
}

func (c *counters) counter(name string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[name]
	if !ok {
		v = new(atomic.Int64)
		c.m[name] = v
	}
	return v
}

type counterIncr struct{ v *atomic.Int64 }

func (i counterIncr) Incr(n int64) { i.v.Add(n) }

type noopTimer struct{}

func (noopTimer) Timing(int64) {}

type noopGauge struct{}

func (noopGauge) Set(int64) {}

func (c *counters) NewCounterCtor(name string, _ ...string) service.MetricsExporterCounterCtor {
	v := c.counter(name)
	return func(...string) service.MetricsExporterCounter { return counterIncr{v} }
}

func (c *counters) NewTimerCtor(string, ...string) service.MetricsExporterTimerCtor {
	return func(...string) service.MetricsExporterTimer { return noopTimer{} }
}

func (c *counters) NewGaugeCtor(string, ...string) service.MetricsExporterGaugeCtor {
	return func(...string) service.MetricsExporterGauge { return noopGauge{} }
}

func (c *counters) Close(context.Context) error { return nil }

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// observedBuilder returns a stream builder whose counters and logs (debug and
// up) the test can read.
func observedBuilder(t *testing.T) (*service.StreamBuilder, *counters, *lockedBuffer) {
	t.Helper()
	env := service.NewEnvironment()
	rec := &counters{m: map[string]*atomic.Int64{}}
	err := env.RegisterMetricsExporter("realkafka_counters", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return rec, nil })
	if err != nil {
		t.Fatal(err)
	}
	sb := env.NewStreamBuilder()
	if err := sb.SetMetricsYAML("realkafka_counters: {}"); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	sb.SetLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return sb, rec, logs
}
