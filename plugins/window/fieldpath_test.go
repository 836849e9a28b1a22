package window

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

func TestParseFieldPathOnlyTakesPlainPaths(t *testing.T) {
	cases := map[string][]string{
		"this.ts":               {"ts"},
		"  this.a.b_c.D9 \n":    {"a", "b_c", "D9"},
		"this._x":               {"_x"},
		"this":                  nil,
		"this.":                 nil,
		"this.a.":               nil,
		"this..a":               nil,
		"this.a.0":              nil, // array index in Bloblang
		"this.0a":               nil,
		`this."a b"`:            nil,
		"this.ts_ms / 1000":     nil,
		"this.city.uppercase()": nil,
		"this.ts # comment":     nil,
		"ts":                    nil,
		"root.ts":               nil,
		`meta("ts")`:            nil,
		"this.a-b":              nil,
		"this.é":                nil,
		"this.a.b.or(0)":        nil,
	}
	for q, want := range cases {
		got := parseFieldPath(q)
		if (got == nil) != (want == nil) || (want != nil && !reflect.DeepEqual([]string(got), want)) {
			t.Errorf("parseFieldPath(%q) = %q, want %q", q, got, want)
		}
	}
}

// structured builds a message whose content is already parsed (as after a
// mapping processor), with Go types JSON decoding does not produce.
func structured(v any) *service.Message {
	m := service.NewMessage(nil)
	m.SetStructured(v)
	return m
}

// agreementDocs are message contents for the agreement tests: raw JSON
// (decoded by Benthos with json.Number) and already-structured values.
func agreementDocs() []*service.Message {
	raw := []string{
		`{"a":{"b":1,"c":"x"},"ts":"2026-03-14T00:01:00Z","n":null}`,
		`{"a":{"b":1.5e3}}`, `{"a":{"b":null}}`, `{"a":{"b":{"c":[1,2]}}}`,
		`{"a":"str"}`, `{"a":[{"b":1},{"b":2}]}`, `{"a":[1,2]}`, `{"a":null}`, `{"a":true}`, `{"a":7}`,
		`{}`, `[1]`, `"s"`, `5`, `null`, `true`, `not json`, ``, `{"a":1} {"a":2}`,
	}
	var msgs []*service.Message
	for _, r := range raw {
		msgs = append(msgs, service.NewMessage([]byte(r)))
	}
	for _, v := range []any{
		map[string]any{"a": map[string]any{"b": int64(4)}},
		map[string]any{"a": map[string]any{"b": time.Date(2026, 3, 14, 0, 1, 0, 0, time.UTC)}},
		map[string]any{"a": int64(4)},
		map[string]any{"a": []byte("x")},
		map[string]any{"a": map[string]string{"b": "y"}},
		map[string]any{"a": map[string]any{"b": []byte("x")}},
	} {
		msgs = append(msgs, structured(v))
	}
	return msgs
}

// TestFieldPathLookupAgreesWithBloblang: wherever the fast path answers, it
// answers what the Bloblang query answers.
func TestFieldPathLookupAgreesWithBloblang(t *testing.T) {
	for _, q := range []string{"this.a", "this.a.b", "this.a.b.c", "this.ts", "this.n", "this.missing.deeper"} {
		exe, err := lintrule.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		fp := parseFieldPath(q)
		for i, m := range agreementDocs() {
			raw, _ := m.AsBytes()
			want, werr := queryValue(service.MessageBatch{m}.BloblangExecutor(exe), 0)
			root, rerr := m.AsStructured()
			if rerr != nil {
				if werr == nil {
					t.Errorf("%s on %q: not structured (%v) but Bloblang answered %#v", q, raw, rerr, want)
				}
				continue // extract falls back to Bloblang
			}
			got, ok := fp.lookup(root)
			if !ok {
				if _, plain := root.(map[string]any); plain && isDecodedJSON(root) {
					t.Errorf("%s on doc %d %q: fast path declined a decoded JSON document", q, i, raw)
				}
				continue // extract falls back to Bloblang
			}
			if werr != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s on doc %d %q: fast %#v, Bloblang %#v (%v)", q, i, raw, got, want, werr)
			}
		}
	}
}

// isDecodedJSON reports whether v only holds types encoding/json yields.
func isDecodedJSON(v any) bool {
	switch t := v.(type) {
	case nil, string, bool, json.Number, float64:
		return true
	case []any:
		for _, e := range t {
			if !isDecodedJSON(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range t {
			if !isDecodedJSON(e) {
				return false
			}
		}
		return true
	}
	return false
}

// TestFastAndBloblangPathsGiveTheSameRowsAndErrors runs the same messages
// through extract with the field-path plan and with Bloblang only, for a
// config of plain paths and for a mixed one: same rows, same dlq_reason,
// same error text.
func TestFastAndBloblangPathsGiveTheSameRowsAndErrors(t *testing.T) {
	nested := `
timestamp: this.ev.ts
size: 5m
group_by:
  city: this.city
  user: this.who.id
aggregates:
  revenue: { op: sum, value: this.price }
  top: { op: max, value: this.m.v }
  cnt: { op: count }
null_group_keys: %s
`
	mixed := strings.Replace(nested, "this.ev.ts", "this.ev.ts_ms / 1000", 1)
	mixed = strings.Replace(mixed, "this.m.v", "this.m.v.or(0)", 1)
	docs := []string{
		`{"ev":{"ts":"2026-03-14T00:01:00Z","ts_ms":1773446460000},"city":"FR","who":{"id":7},"price":1.5,"m":{"v":2}}`,
		`{"ev":{"ts":"2026-03-14T00:01:00.123456789Z","ts_ms":1773446460123},"city":"São Paulo","who":{"id":"7"},"price":2,"m":{"v":null}}`,
		`{"ev":{"ts":"2026-03-14 00:01:00","ts_ms":1},"city":"<b>&","who":{"id":true},"price":-0.0,"m":{"v":1e308}}`,
		`{"ev":{"ts":"2026-03-14T01:01:00+01:00","ts_ms":1},"city":"FR","who":{"id":{"x":1}},"price":1,"m":{"v":1}}`,
		`{"ev":{"ts":1773446460,"ts_ms":1},"city":"FR","who":{"id":[1,"a"]},"price":1,"m":{}}`,
		`{"ev":{"ts":1773446460.5,"ts_ms":1},"city":"FR","who":{"id":1},"price":1}`,
		`{"ev":{"ts":"1773446460","ts_ms":1},"city":"FR","who":{"id":1},"price":"1"}`,
		`{"ev":{"ts":"2026-02-30T00:00:00Z","ts_ms":"x"},"city":"FR","who":{"id":1},"price":1}`,
		`{"ev":{"ts":"2026-03-14T24:00:00Z"},"city":"FR","who":{"id":1},"price":1}`,
		`{"ev":{"ts":"2026-03-14T23:59:60Z"},"city":"FR","who":{"id":1},"price":1}`,
		`{"ev":{"ts":"2024-02-29T23:59:59.5Z"},"city":"R&D","who":{"id":1},"price":1}`,
		`{"ev":{"ts":"yesterday"},"city":"FR","who":{"id":1},"price":1}`,
		`{"ev":{"ts":null,"ts_ms":null},"city":"FR","who":{"id":1},"price":1}`,
		`{"ev":{},"city":"FR","who":{"id":1},"price":1}`,
		`{"ev":"flat","city":"FR","who":{"id":1},"price":1}`,
		`{"ev":{"ts":"2026-03-14T00:01:00Z","ts_ms":1},"who":{"id":1},"price":1}`,
		`{"ev":{"ts":"2026-03-14T00:01:00Z","ts_ms":1},"city":null,"who":null,"price":1}`,
		`{"ev":{"ts":"2026-03-14T00:01:00Z","ts_ms":1},"city":"FR","who":{"id":1},"price":"ten"}`,
		`{"ev":{"ts":"2026-03-14T00:01:00Z","ts_ms":1},"city":"FR","who":{"id":1},"price":true,"m":{"v":"x"}}`,
		`{"ev":{"ts":"2026-03-14T00:01:00Z","ts_ms":1},"city":"FR","who":{"id":1},"price":null,"m":{"v":null}}`,
		`{"ev":{"ts":"2026-03-14T00:01:00Z","ts_ms":1},"city":"FR","who":{"id":12345678901234567890},"price":1}`,
		`{"ev":{"ts":"2026-03-14T00:01:00Z","ts_ms":1},"city":"line\nbreak\u2028","who":{"id":1},"price":1}`,
		`[]`, `null`, `not json`, ``,
	}
	msgs := func() service.MessageBatch {
		var b service.MessageBatch
		for i, d := range docs {
			m := service.NewMessage([]byte(d))
			m.MetaSetMut("kafka_topic", "rides")
			m.MetaSetMut("kafka_partition", i%3)
			m.MetaSetMut("kafka_offset", int64(i))
			b = append(b, m)
		}
		// Already parsed by a mapping: Go-typed values Bloblang produces.
		b = append(b,
			structured(map[string]any{"ev": map[string]any{"ts": time.Date(2026, 3, 14, 0, 1, 0, 0, time.UTC), "ts_ms": int64(1773446460000)},
				"city": "FR", "who": map[string]any{"id": int64(7)}, "price": int64(3), "m": map[string]any{"v": float64(2)}}),
			structured(map[string]any{"ev": map[string]any{"ts": []byte("2026-03-14T00:01:00Z")}, "city": []byte("FR"), "who": map[string]any{"id": 1}, "price": 1}),
		)
		return b
	}
	for name, yaml := range map[string]string{"paths": nested, "mixed": mixed} {
		for _, nullKeys := range []string{"error", "group"} {
			conf := strings.Replace(yaml, "%s", nullKeys, 1)
			fast := build(t, conf, service.MockResources(), newClock())
			slow := build(t, conf, service.MockResources(), newClock())
			if err := slow.conf.planQueries(false); err != nil {
				t.Fatal(err)
			}
			if !fast.conf.hasPaths || (name == "paths") != (fast.conf.rest == nil) || slow.conf.hasPaths {
				t.Fatalf("%s: plan fast paths=%v rest=%v, slow paths=%v", name, fast.conf.hasPaths, fast.conf.rest != nil, slow.conf.hasPaths)
			}
			// Separate copies: each path parses its own messages.
			fb, sb := msgs(), msgs()
			fq, sq := fast.bind(fb), slow.bind(sb)
			nv := len(fast.conf.valueSlot)
			fvals, svals := make([]any, len(fast.conf.slots)), make([]any, len(slow.conf.slots))
			accepted := 0
			for i := range fb {
				fr, ferr := fast.extract(fb, fq, i, fvals, make([]engine.Value, nv))
				sr, serr := slow.extract(sb, sq, i, svals, make([]engine.Value, nv))
				where := name + "/" + nullKeys + "/" + describe(fb[i])
				if (ferr == nil) != (serr == nil) {
					t.Errorf("%s: fast error %v, Bloblang error %v", where, ferr, serr)
					continue
				}
				if ferr != nil {
					if ferr.reason != serr.reason || ferr.Error() != serr.Error() {
						t.Errorf("%s: fast %s %q, Bloblang %s %q", where, ferr.reason, ferr, serr.reason, serr)
					}
					continue
				}
				accepted++
				if !reflect.DeepEqual(fr, sr) {
					t.Errorf("%s: fast row %+v, Bloblang row %+v", where, fr, sr)
				}
			}
			if accepted < 5 || accepted == len(fb) {
				t.Errorf("%s/%s: %d of %d rows accepted: the table no longer covers both outcomes", name, nullKeys, accepted, len(fb))
			}
		}
	}
}

func describe(m *service.Message) string {
	if raw, err := m.AsBytes(); err == nil {
		return string(raw)
	}
	return "structured"
}
