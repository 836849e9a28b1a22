// Package bench measures the configs' own Bloblang stages, which profiles show
// dominate the rides job's CPU (the plugins are benchmarked in their packages).
package bench

import (
	"fmt"
	"math/rand"
	"os"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"
	"gopkg.in/yaml.v3"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure" // ts_parse, ...

	"github.com/miaradia/rides-connect/config/templates"
	_ "github.com/miaradia/rides-connect/plugins/textcase" // uppercase_unicode
)

// parseMapping returns the Bloblang of the parse_ride step: the mapping the
// parse_ride template (config/templates/parse_ride.yaml, used by rides.yaml
// and bronze.yaml) renders, or, with RIDES_CONFIG set (to compare two
// versions), the mapping of the processor labelled parse_ride in that config.
func parseMapping(tb testing.TB) string {
	if path := os.Getenv("RIDES_CONFIG"); path != "" {
		return configParseMapping(tb, path)
	}
	raw, err := templates.File("parse_ride.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var tmpl struct {
		Mapping string `yaml:"mapping"`
	}
	if err := yaml.Unmarshal(raw, &tmpl); err != nil {
		tb.Fatal(err)
	}
	exe, err := bloblang.Parse(tmpl.Mapping)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := exe.Query(map[string]any{})
	if err != nil {
		tb.Fatal(err)
	}
	m, ok := out.(map[string]any)["mapping"].(string)
	if !ok {
		tb.Fatalf("the parse_ride template renders %v, not a mapping processor", out)
	}
	return m
}

func configParseMapping(tb testing.TB, path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var conf struct {
		Pipeline struct {
			Processors []struct {
				Label   string `yaml:"label"`
				Mapping string `yaml:"mapping"`
			} `yaml:"processors"`
		} `yaml:"pipeline"`
	}
	if err := yaml.Unmarshal(raw, &conf); err != nil {
		tb.Fatal(err)
	}
	for _, p := range conf.Pipeline.Processors {
		if p.Label == "parse_ride" && p.Mapping != "" {
			return p.Mapping
		}
	}
	tb.Fatalf("%s has no parse_ride mapping processor", path)
	return ""
}

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

func TestParseMappingAcceptsRides(t *testing.T) {
	exe, err := bloblang.Parse(parseMapping(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rides(100) {
		if _, err := service.NewMessage(r).BloblangQuery(exe); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
}

// BenchmarkRidesParseMapping: one seed-shaped ride through the parse_ride
// mapping (config/templates/parse_ride.yaml), as the mapping processor runs it.
func BenchmarkRidesParseMapping(b *testing.B) {
	exe, err := bloblang.Parse(parseMapping(b))
	if err != nil {
		b.Fatal(err)
	}
	in := rides(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := service.NewMessage(in[i%len(in)]).BloblangQuery(exe); err != nil {
			b.Fatal(err)
		}
	}
}
