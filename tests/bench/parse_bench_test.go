// Package bench measures the rides job's own stages and the Benthos plumbing
// around them (the plugins are benchmarked in their packages).
package bench

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"gopkg.in/yaml.v3"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure" // mapping, ts_parse, ...

	"github.com/miaradia/rides-connect/internal/harness"

	_ "github.com/miaradia/rides-connect/config/templates"   // parse_ride
	_ "github.com/miaradia/rides-connect/plugins/checkpoint" // the window's state cache
	_ "github.com/miaradia/rides-connect/plugins/fromjson"   // from_json
	_ "github.com/miaradia/rides-connect/plugins/textcase"   // uppercase_unicode
	_ "github.com/miaradia/rides-connect/plugins/window"     // tumbling_window
)

// ridesConfig is the config the benchmarks take their steps from:
// config/rides.yaml, or RIDES_CONFIG to compare two versions of it.
func ridesConfig(tb testing.TB) any {
	tb.Helper()
	path := os.Getenv("RIDES_CONFIG")
	if path == "" {
		path = filepath.Join("..", "..", "config", "rides.yaml")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	return doc
}

// step returns the config of the processor with this label, wherever it
// sits in the rides config (pipeline or processor_resources), without its label.
func step(tb testing.TB, doc any, label string) map[string]any {
	tb.Helper()
	n := harness.FindLabelled(doc, label)
	if n == nil {
		tb.Fatalf("the rides config has no processor labelled %s", label)
	}
	c := map[string]any{}
	for k, v := range n {
		if k != "label" {
			c[k] = v
		}
	}
	return c
}

// mappingStep is the Bloblang mapping that was parse_ride before from_json,
// kept by plugins/fromjson as the reference of its agreement tests.
func mappingStep(tb testing.TB) map[string]any {
	tb.Helper()
	m, err := os.ReadFile(filepath.Join("..", "..", "plugins", "fromjson", "testdata", "rides_parse_mapping.blobl"))
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]any{"mapping": string(m)}
}

// processorOf builds a processor from its YAML as a resource.
func processorOf(tb testing.TB, conf map[string]any) (func(service.MessageBatch) ([]service.MessageBatch, error), func()) {
	tb.Helper()
	c := map[string]any{"label": "p"}
	for k, v := range conf {
		c[k] = v
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	rb := service.NewResourceBuilder()
	if err := rb.AddProcessorYAML(string(y)); err != nil {
		tb.Fatal(err)
	}
	res, stop, err := rb.Build()
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	var proc *service.ResourceProcessor
	if err := res.AccessProcessor(ctx, "p", func(p *service.ResourceProcessor) { proc = p }); err != nil {
		tb.Fatal(err)
	}
	return func(b service.MessageBatch) ([]service.MessageBatch, error) { return proc.ProcessBatch(ctx, b) },
		func() { _ = stop(ctx) }
}

// rides are seed-shaped records (~150 bytes), as the producer writes them.
func rides(n int) [][]byte {
	rng := rand.New(rand.NewSource(1))
	cities := []string{"FR", "US", "DE", "MG", "UK"}
	out := make([][]byte, n)
	for i := range out {
		d := 5 + rng.Float64()*20
		out[i] = fmt.Appendf(nil, `{"rideId":%d,"userId":%d,"city":%q,"distanceKm":%v,"price":%.2f,"ts":"2026-03-14T08:%02d:%02d.123Z"}`,
			rng.Intn(1000000), rng.Intn(100000), cities[rng.Intn(5)], d, d*(0.8+rng.Float64()), i/60%60, i%60)
	}
	return out
}

func TestParseStepAcceptsRides(t *testing.T) {
	doc := ridesConfig(t)
	for name, conf := range map[string]map[string]any{"config": step(t, doc, "parse_ride"), "mapping": mappingStep(t)} {
		proc, stop := processorOf(t, conf)
		var batch service.MessageBatch
		for _, r := range rides(100) {
			batch = append(batch, service.NewMessage(r))
		}
		out, err := proc(batch)
		if err != nil || len(out) != 1 || len(out[0]) != 100 {
			t.Fatalf("%s: %v %v", name, out, err)
		}
		for i, m := range out[0] {
			if m.GetError() != nil {
				t.Fatalf("%s: %s: %v", name, rides(100)[i], m.GetError())
			}
		}
		stop()
	}
}

// BenchmarkRidesParse: one seed-shaped ride (op = ride) through the Bloblang
// mapping parse_ride was (`mapping`) and through the parse_ride step of the
// rides config (`config`: from_json, or whatever RIDES_CONFIG has there), as
// a pipeline runs a processor: messages made from the record bytes, batches
// of 2048. `noop` is that plumbing alone. cpu-ns/op is the process's CPU
// time (user + system, GC included) per ride: on a shared machine it varies
// less than the wall time.
//
//	go test ./tests/bench/ -run '^$' -bench RidesParse -benchmem
func BenchmarkRidesParse(b *testing.B) {
	doc := ridesConfig(b)
	in := rides(4096)
	for _, c := range []struct {
		name string
		conf map[string]any
	}{{"noop", map[string]any{"noop": map[string]any{}}}, {"mapping", mappingStep(b)}, {"config", step(b, doc, "parse_ride")}} {
		b.Run(c.name, func(b *testing.B) {
			proc, stop := processorOf(b, c.conf)
			defer stop()
			const size = 2048
			batch := make(service.MessageBatch, 0, size)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			defer func() { b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
			for i := 0; i < b.N; i++ {
				batch = append(batch, service.NewMessage(in[i%len(in)]))
				if len(batch) == size || i == b.N-1 {
					out, err := proc(batch)
					if err != nil || out[0][0].GetError() != nil {
						b.Fatal(err, out[0][0].GetError())
					}
					batch = make(service.MessageBatch, 0, size)
				}
			}
		})
	}
}
