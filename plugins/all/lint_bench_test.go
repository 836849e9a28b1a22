package all

import (
	"os"
	"regexp"
	"testing"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/miaradia/rides-connect/internal/lintrule"
)

// envDefault is ${NAME:default} in a config: lint sees the default, as a
// start with the variable unset does.
var envDefault = regexp.MustCompile(`\$\{([A-Z0-9_]+):?([^}]*)\}`)

// BenchmarkLintShippedConfig lints the shipped configs as every start does
// before it builds anything (docs/benchmarks.md, "Session 34": an enum
// field's Benthos option mapping, parsed at each occurrence, was most of it).
func BenchmarkLintShippedConfig(b *testing.B) {
	for _, name := range []string{"rides-single.yaml", "rides.yaml", "rides-scaleout.yaml"} {
		b.Run(name, func(b *testing.B) {
			raw, err := os.ReadFile("../../config/" + name)
			if err != nil {
				b.Fatal(err)
			}
			conf := envDefault.ReplaceAllString(string(raw), "$2")
			if msgs, err := lintrule.Lint(conf); err != nil || len(msgs) > 0 {
				b.Fatal(err, msgs)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := lintrule.Lint(conf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
