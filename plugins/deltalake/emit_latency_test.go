package deltalake

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// timings is a metrics exporter that keeps every value of every timer.
type timings struct {
	mu   sync.Mutex
	vals map[string][]int64
}

type timingSeries struct {
	t    *timings
	name string
}

func (s timingSeries) Incr(int64) {}
func (s timingSeries) Set(int64)  {}
func (s timingSeries) Timing(n int64) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	s.t.vals[s.name] = append(s.t.vals[s.name], n)
}

func (t *timings) get(name string) []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]int64(nil), t.vals[name]...)
}

func (t *timings) NewCounterCtor(name string, _ ...string) service.MetricsExporterCounterCtor {
	return func(...string) service.MetricsExporterCounter { return timingSeries{t, name} }
}
func (t *timings) NewTimerCtor(name string, _ ...string) service.MetricsExporterTimerCtor {
	return func(...string) service.MetricsExporterTimer { return timingSeries{t, name} }
}
func (t *timings) NewGaugeCtor(name string, _ ...string) service.MetricsExporterGaugeCtor {
	return func(...string) service.MetricsExporterGauge { return timingSeries{t, name} }
}
func (t *timings) Close(context.Context) error { return nil }

// delta_emit_to_commit_ns: one observation per committed row that carries
// window_emitted_unix_ms (commit time − emission time); rows without it, and
// replayed rows that are skipped, are not observed.
func TestEmitToCommitMetric(t *testing.T) {
	rec := &timings{vals: map[string][]int64{}}
	send := startOutputWithMetrics(t, rec)
	// Emitted 2 s before the send (an int64, as tumbling_window sets it), and a
	// string value as a mapping or a Kafka round trip would leave it.
	stamped := func(seq int, emitted any, cities ...string) service.MessageBatch {
		batch := emission(seq, cities...)
		for _, m := range batch {
			m.MetaSetMut("window_emitted_unix_ms", emitted)
		}
		return batch
	}
	before := time.Now()
	send(stamped(1, before.Add(-2*time.Second).UnixMilli(), "PARIS", "LYON"))
	send(stamped(2, fmt.Sprint(before.Add(-3*time.Second).UnixMilli()), "PARIS"))
	send(emission(3, "NICE"))                                             // no emission time: not observed
	send(stamped(1, before.Add(-time.Hour).UnixMilli(), "PARIS", "LYON")) // replay: skipped, not observed
	took := time.Since(before)

	got := rec.get("delta_emit_to_commit_ns")
	if len(got) != 3 {
		t.Fatalf("delta_emit_to_commit_ns observed %d rows, want 3 (2 + 1 stamped rows committed): %v", len(got), got)
	}
	for i, want := range []time.Duration{2 * time.Second, 2 * time.Second, 3 * time.Second} {
		if d := time.Duration(got[i]); d < want-time.Millisecond || d > want+took+time.Millisecond {
			t.Errorf("observation %d = %v, want %v + at most the %v the sends took", i, d, want, took)
		}
	}
}
