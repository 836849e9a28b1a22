package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// rowJSONOracle is how rows were rendered before RowJSON: the key parsed by
// encoding/json, every name and bound encoded for each row.
func rowJSONOracle(r *OutRow, groupNames []string, aggs []AggSpec) ([]byte, error) {
	var keys []json.RawMessage
	if err := json.Unmarshal([]byte(r.Key), &keys); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteByte('{')
	field := func(name string, v []byte) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(jsonString(name))
		b.WriteByte(':')
		b.Write(v)
	}
	for i, n := range groupNames {
		if i < len(keys) {
			field(n, keys[i])
		}
	}
	for i, a := range aggs {
		field(a.Name, r.Values[i])
	}
	field("window_start", jsonString(FormatTime(r.StartUs)))
	field("window_end", jsonString(FormatTime(r.EndUs)))
	b.WriteByte('}')
	return b.Bytes(), nil
}

// One renderer over many rows gives, byte for byte, what rendering each row
// alone from scratch gave, for keys of every JSON shape (strings with
// quotes, escapes, commas and brackets, numbers, null, nested values) and
// names that need escaping, across window changes.
func TestRowJSONEqualsRenderingEachRowAlone(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	values := []any{"PARIS", `a "quoted", [bracketed] {braced} \ back`, "é<>&\u2028", "", 0, -12.5, 1e300,
		nil, true, []any{"x", []any{1, "]"}}, map[string]any{"k": "v,}", "a": []any{}}, []any{}}
	names := []string{"city", `we"ird`, "<tag>"}
	aggs := []AggSpec{{Name: "revenue"}, {Name: "cnt"}}
	w := NewRowJSON(names, aggs)
	for i := 0; i < 3000; i++ {
		nk := rnd.IntN(len(names) + 1)
		kv := make([]any, nk)
		for j := range kv {
			kv[j] = values[rnd.IntN(len(values))]
		}
		key, err := EncodeKey(kv)
		if err != nil {
			t.Fatal(err)
		}
		start := int64(rnd.IntN(4)) * 300_000_000
		r := OutRow{StartUs: start, EndUs: start + 300_000_000, Key: key,
			Values: []json.RawMessage{json.RawMessage(fmt.Sprint(rnd.Float64())), json.RawMessage(fmt.Sprint(rnd.IntN(9)))}}
		want, err := rowJSONOracle(&r, names, aggs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := w.Append(nil, &r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("row %d, key %s:\n got %s (%v)\nwant %s", i, key, got, err, want)
		}
	}
	for _, bad := range []string{`["a"`, `"a"]`, `[{"a":1]`, `["a\"]`, `x`} {
		r := OutRow{Key: bad, Values: []json.RawMessage{json.RawMessage("1"), json.RawMessage("1")}}
		if _, err := w.Append(nil, &r); err == nil {
			t.Fatalf("corrupt key %s rendered without an error", bad)
		}
	}
}

// BenchmarkRowJSON: rendering the rows of one window of 1 000 (city,
// userId) keys, one renderer for all (RowJSON) against each row from
// scratch (what emitting did before).
//
//	go test ./plugins/window/engine/ -run '^$' -bench RowJSON -benchmem
func BenchmarkRowJSON(b *testing.B) {
	names, aggs := []string{"city", "userId"}, []AggSpec{{Name: "revenue"}, {Name: "avg_distance"}, {Name: "cnt"}}
	rows := make([]OutRow, 1000)
	for i := range rows {
		key, _ := EncodeKey([]any{"PARIS", 10000 + i})
		rows[i] = OutRow{StartUs: 1_773_446_400_000_000, EndUs: 1_773_446_700_000_000, Key: key,
			Values: []json.RawMessage{json.RawMessage("1234.5678"), json.RawMessage("14.235728103948572"), json.RawMessage("87")}}
	}
	b.Run("one_renderer", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			w := NewRowJSON(names, aggs)
			for k := range rows {
				if _, err := w.Append(nil, &rows[k]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("each_row_alone", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for k := range rows {
				if _, err := rowJSONOracle(&rows[k], names, aggs); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
