package metaswitch

import (
	"context"
	"strconv"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// BenchmarkRouting compares, on batches of 2048 messages of one topic (as
// the scale-out config's stage-1 batches), `switch` with a Bloblang check on
// kafka_topic against metadata_switch on the same key; both run the same
// processor (noop), so the difference is the routing. ns/op is per message.
func BenchmarkRouting(b *testing.B) {
	for _, c := range []struct{ name, yaml string }{
		{"switch", `
switch:
  - check: '@kafka_topic == "rides"'
    processors:
      - noop: {}
  - processors:
      - noop: {}
`},
		{"metadata_switch", `
metadata_switch:
  key: kafka_topic
  cases:
    - value: rides
      processors:
        - noop: {}
  default:
    - noop: {}
`},
	} {
		b.Run(c.name, func(b *testing.B) {
			spec := service.NewConfigSpec().Field(service.NewProcessorField("p"))
			conf, err := spec.ParseYAML("p:\n  "+indent(c.yaml), nil)
			if err != nil {
				b.Fatal(err)
			}
			p, err := conf.FieldProcessor("p")
			if err != nil {
				b.Fatal(err)
			}
			batch := make(service.MessageBatch, 2048)
			for i := range batch {
				batch[i] = service.NewMessage([]byte(`{"n":` + strconv.Itoa(i) + `}`))
				batch[i].MetaSetMut("kafka_topic", "rides")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N / len(batch) {
				if _, err := p.ProcessBatch(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func indent(s string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\n' {
			out = append(out, "  "...)
		}
	}
	return string(out)
}
