package window

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// A numeric group key groups by its value, as Spark does: 5 and 5.0 are one
// group, and so are -0.0 and 0.0 (Spark's NormalizeFloatingNumbers). Both
// the JSON body and a structured (parsed) message give the same groups.
func TestNumericGroupKeysGroupByValue(t *testing.T) {
	yaml := strings.Replace(ridesYAML, "  city: this.city\n", "  price: this.price\n", 1)
	for _, parsed := range []bool{false, true} {
		p := build(t, yaml, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
		var batch service.MessageBatch
		for i, body := range []string{
			`{"price":5,"distanceKm":1,"ts":"2026-03-14T00:01:00Z"}`,
			`{"price":5.0,"distanceKm":1,"ts":"2026-03-14T00:01:01Z"}`,
			`{"price":-0.0,"distanceKm":1,"ts":"2026-03-14T00:01:02Z"}`,
			`{"price":0,"distanceKm":1,"ts":"2026-03-14T00:01:03Z"}`,
			`{"price":0.0,"distanceKm":1,"ts":"2026-03-14T00:01:04Z"}`,
		} {
			m := service.NewMessage([]byte(body))
			m.MetaSetMut("kafka_topic", "rides")
			m.MetaSetMut("kafka_partition", 0)
			m.MetaSetMut("kafka_offset", i)
			if parsed {
				if _, err := m.AsStructured(); err != nil {
					t.Fatal(err)
				}
			}
			batch = append(batch, m)
		}
		if _, errored := run(t, p, batch); len(errored) > 0 {
			t.Fatalf("errored: %v", errored[0].GetError())
		}
		if n := p.eng.OpenGroups(); n != 2 {
			t.Errorf("parsed=%v: %d groups, want 2 (5 and 0)", parsed, n)
		}
	}
}
