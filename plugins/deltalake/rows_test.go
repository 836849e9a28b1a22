package deltalake

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

var allTypes = delta.Schema{Fields: []delta.Field{
	{Name: "s", Type: delta.Type{Name: "string"}, Nullable: true},
	{Name: "l", Type: delta.Type{Name: "long"}, Nullable: true},
	{Name: "i", Type: delta.Type{Name: "integer"}, Nullable: true},
	{Name: "d", Type: delta.Type{Name: "double"}, Nullable: true},
	{Name: "f", Type: delta.Type{Name: "float"}, Nullable: true},
	{Name: "b", Type: delta.Type{Name: "boolean"}, Nullable: true},
	{Name: "ts", Type: delta.Type{Name: "timestamp"}, Nullable: true},
	{Name: "dt", Type: delta.Type{Name: "date"}, Nullable: true},
	{Name: "dec", Type: delta.Type{Name: "decimal", Precision: 20, Scale: 4}, Nullable: true},
	{Name: "bin", Type: delta.Type{Name: "binary"}, Nullable: true},
	{Name: "n", Type: delta.Type{Name: "long"}, Nullable: true},
}}

// A message a mapping built (Go values: int64, uint64, float64, time.Time,
// []byte …) gives the row its JSON text gives; decodeRow reads the values
// as they are instead of serialising and parsing them.
func TestDecodeRowOfAMappingsValuesEqualsItsJSON(t *testing.T) {
	values := []map[string]any{{
		"s": "PARIS", "l": int64(math.MaxInt64), "i": int64(-7), "d": 0.1 + 0.2, "f": float32(1.5),
		"b": true, "ts": time.Date(2026, 3, 14, 8, 5, 0, 123456000, time.UTC), "dt": "2026-03-14",
		"dec": 12.3456, "bin": []byte{0, 1, 255}, "n": nil,
	}, {
		"s": "", "l": uint64(1 << 60), "i": 3.0, "d": int64(1<<53 + 1), "f": int64(2),
		"b": false, "ts": "2026-03-14T08:05:00.5+01:00", "dt": time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC),
		"dec": int64(-5), "bin": "AAH/", "n": json.Number("42"),
	}, {
		"d": math.Copysign(0, -1), "l": 12.0, "ts": int64(1_773_446_400_000),
	}}
	for i, v := range values {
		structured := service.NewMessage(nil)
		structured.SetStructuredMut(v)
		text, err := structured.AsBytes()
		if err != nil {
			t.Fatal(err)
		}
		got, bad := decodeRow(allTypes, structured, false)
		want, badJSON := decodeRow(allTypes, service.NewMessage(text), false)
		if bad != nil || badJSON != nil {
			t.Fatalf("row %d: %v / from its JSON %s: %v", i, bad, text, badJSON)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("row %d: from the values %#v, from their JSON %s %#v", i, got, text, want)
		}
		if d, ok := got[3].(float64); ok && d == 0 && !math.Signbit(d) && math.Signbit(v["d"].(float64)) {
			t.Fatalf("row %d: -0 lost its sign", i)
		}
	}
}

// What a mapping can make and JSON cannot hold is refused as before (the
// serialised message was empty then): bad_json, naming the field.
func TestDecodeRowRefusesNonFiniteDoubles(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		m := service.NewMessage(nil)
		m.SetStructuredMut(map[string]any{"s": "PARIS", "d": f})
		_, bad := decodeRow(allTypes, m, false)
		if bad == nil || bad.reason != "bad_json" || !strings.Contains(bad.Error(), `"d"`) {
			t.Fatalf("%v: %v, want bad_json naming \"d\"", f, bad)
		}
	}
	for _, body := range []string{`[1,2]`, `"text"`, `null`, `{"s":"a"} {"s":"b"}`} {
		if _, bad := decodeRow(allTypes, service.NewMessage([]byte(body)), false); bad == nil || bad.reason != "bad_json" {
			t.Fatalf("%s: %v, want bad_json", body, bad)
		}
	}
}

// BenchmarkDecodeRow: a window row as the format_row mapping leaves it
// (values) and as raw JSON text, which is what decodeRow parsed for both
// before it read values as they are.
//
//	go test ./plugins/deltalake/ -run '^$' -bench DecodeRow -benchmem
func BenchmarkDecodeRow(b *testing.B) {
	s := delta.Schema{Fields: []delta.Field{
		{Name: "city", Type: delta.Type{Name: "string"}}, {Name: "win_start", Type: delta.Type{Name: "string"}},
		{Name: "win_end", Type: delta.Type{Name: "string"}}, {Name: "revenue", Type: delta.Type{Name: "double"}},
		{Name: "avg_distance", Type: delta.Type{Name: "double"}}, {Name: "cnt", Type: delta.Type{Name: "long"}},
	}}
	row := map[string]any{"city": "PARIS", "win_start": "2026-03-14 08:05:00", "win_end": "2026-03-14 08:10:00",
		"revenue": 1234.5678, "avg_distance": 14.235728103948572, "cnt": int64(87)}
	text, _ := json.Marshal(row)
	b.Run("values", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m := service.NewMessage(nil)
			m.SetStructured(row)
			if _, bad := decodeRow(s, m, false); bad != nil {
				b.Fatal(bad)
			}
		}
	})
	b.Run("values_serialised_first", func(b *testing.B) { // what decodeRow did before
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m := service.NewMessage(nil)
			m.SetStructured(row)
			body, _ := m.AsBytes()
			if _, bad := decodeRow(s, service.NewMessage(body), false); bad != nil {
				b.Fatal(bad)
			}
		}
	})
	b.Run("json_text", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, bad := decodeRow(s, service.NewMessage(text), false); bad != nil {
				b.Fatal(bad)
			}
		}
	})
}
