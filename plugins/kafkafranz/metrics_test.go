package kafkafranz

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
)

// recordingExporter keeps the last value of every series, keyed
// "name{k=v,...}" (counters summed), so tests read what a scrape would show.
type recordingExporter struct {
	mu     sync.Mutex
	values map[string]int64
}

type recCounter struct {
	e   *recordingExporter
	key string
}

func (c recCounter) Incr(n int64) { c.e.mu.Lock(); c.e.values[c.key] += n; c.e.mu.Unlock() }
func (c recCounter) Set(v int64)  { c.e.mu.Lock(); c.e.values[c.key] = v; c.e.mu.Unlock() }
func (c recCounter) Timing(int64) {}

func seriesKey(name string, keys, values []string) string {
	var parts []string
	for i := range keys {
		parts = append(parts, keys[i]+"="+values[i])
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func (e *recordingExporter) NewCounterCtor(name string, keys ...string) service.MetricsExporterCounterCtor {
	return func(v ...string) service.MetricsExporterCounter { return recCounter{e, seriesKey(name, keys, v)} }
}
func (e *recordingExporter) NewTimerCtor(name string, keys ...string) service.MetricsExporterTimerCtor {
	return func(v ...string) service.MetricsExporterTimer { return recCounter{e, seriesKey(name, keys, v)} }
}
func (e *recordingExporter) NewGaugeCtor(name string, keys ...string) service.MetricsExporterGaugeCtor {
	return func(v ...string) service.MetricsExporterGauge { return recCounter{e, seriesKey(name, keys, v)} }
}
func (e *recordingExporter) Close(context.Context) error { return nil }

// sum adds the series of name whose labels include every "k=v" given
// (Benthos adds label and path to every series).
func (e *recordingExporter) sum(name string, labels ...string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
next:
	for k, v := range e.values {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(k, l) {
				continue next
			}
		}
		n += v
	}
	return n
}

func (e *recordingExporter) keys(prefix string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for k := range e.values {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// The input and output emit the series of docs/metrics.md.
func TestMetricsNamesAndValues(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "rides"))
	exp := &recordingExporter{values: map[string]int64{}}
	env := service.NewEnvironment()
	if err := env.RegisterMetricsExporter("recording", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return exp, nil }); err != nil {
		t.Fatal(err)
	}

	// Output: 20 records.
	sb := env.NewStreamBuilder()
	for _, err := range []error{
		sb.SetLoggerYAML("level: none"),
		sb.SetMetricsYAML("recording: {}"),
		sb.AddOutputYAML(fmt.Sprintf("kafka_franz:\n  seed_brokers: [ %q ]\n  topic: rides\n", addr)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	send, err := sb.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = out.Run(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var batch service.MessageBatch
	for i := range 20 {
		batch = append(batch, service.NewMessage(fmt.Appendf(nil, "value-%02d", i))) // 8 bytes each
	}
	if err := send(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := out.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := exp.sum("kafka_output_records_total", "topic=rides"); got != 20 {
		t.Fatalf("kafka_output_records_total{topic=rides} = %d, want 20 (%v)", got, exp.keys("kafka_output"))
	}

	// Input: consume them, stop gracefully (which commits).
	sb = env.NewStreamBuilder()
	col := newCollector()
	for _, err := range []error{
		sb.SetLoggerYAML("level: none"),
		sb.SetMetricsYAML("recording: {}"),
		sb.AddInputYAML(groupInput(addr, "g", "")),
		sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error { col.add(b); return nil }),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	in, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = in.Run(context.Background()) }()
	col.waitDistinct(t, 20)
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	if got := exp.sum("kafka_input_records_total", "topic=rides", "partition="); got != 20 {
		t.Errorf("kafka_input_records_total = %d, want 20 (%v)", got, exp.keys("kafka_input_records_total"))
	}
	if got := exp.sum("kafka_input_bytes_total", "topic=rides", "partition="); got != 20*8 {
		t.Errorf("kafka_input_bytes_total = %d, want %d", got, 20*8)
	}
	if got := exp.sum("kafka_input_commits_total"); got < 1 {
		t.Errorf("kafka_input_commits_total = %d, want >= 1", got)
	}
	if got := exp.sum("kafka_input_lag", "topic=rides", "partition="); got != 0 {
		t.Errorf("kafka_input_lag after draining = %d, want 0", got)
	}
	if exp.sum("kafka_input_paused_partitions") != 0 {
		t.Errorf("paused partitions = %d with checkpoint_limit far above the load", exp.sum("kafka_input_paused_partitions"))
	}
}
