package engine

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"
)

// sameAsEncodingJSON fails t if the reader took data (ok) and encoding/json
// does not decode it to the same bundle.
func sameAsEncodingJSON(t testing.TB, data []byte) (ok bool) {
	t.Helper()
	got, ok := readBundleJSON(data)
	if !ok {
		return false
	}
	var want Bundle
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("the reader took %q, encoding/json refuses it: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nreader        %+v\nencoding/json %+v", data, got, want)
	}
	return true
}

// TestBundleReaderIsEncodingJSONs: every bundle EncodeBundle writes decodes
// as encoding/json decodes it (every float class, keys that need escapes,
// empty and null lists); the reader gives up only on \u escapes (strings
// with <, >, &, U+2028/9, invalid UTF-8 or rare control characters).
func TestBundleReaderIsEncodingJSONs(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	read := 0
	for i := range 5000 {
		b := randBundle(r)
		data, err := EncodeBundle(&b)
		if err != nil {
			t.Fatal(err)
		}
		ok := sameAsEncodingJSON(t, data)
		if want := !bytes.Contains(data, []byte(`\u`)); ok != want {
			t.Fatalf("bundle %d: reader took it %v, want %v: %s", i, ok, want, data)
		}
		if ok {
			read++
		}
	}
	if read < 300 { // the random strings are mostly ones JSON escapes
		t.Fatalf("the reader took only %d of 5000 bundles", read)
	}
}

// What the reader must leave to encoding/json (it differs there, or fails),
// and the variations of the format it takes.
func TestBundleReaderGivesUpWhereEncodingJSONDiffers(t *testing.T) {
	const ok = `{"source":{"topic":"rides","partition":1,"partitions":6,"max_ms":5,"offset":7},"from_us":-1,"to_us":2,"shard":0,"shards":6,"partials":[{"start_us":3,"key":"[\"A\"]","rows":1,"aggs":[{"sum":{"p":[1.5]},"n":1,"lo":1.5,"hi":1.5}]}]}`
	for _, c := range []struct {
		data string
		read bool
	}{
		{ok, true},
		{" { \"source\" : {\"topic\":\"r\",\"partition\":0} ,\n\"partials\" : [ ] , \"shard\":1\t}\r\n", true},
		{`{"source":{"topic":"r","partition":-0,"max_ms":-9223372036854775808,"offset":9223372036854775807}}`, true},
		{`{"source":{"topic":"r"},"partials":null,"from_us":0}`, true},
		{`{"partials":[{"aggs":[{"sum":{"p":null,"of":false},"lo":-0,"hi":1E+2,"s":2.5e-3}]}]}`, true},
		{`{"partials":[{"key":"tab\tq\"b\\s\/","config":"é日本"}]}`, true},
		{`{"Source":{"topic":"r"}}`, false},                          // encoding/json matches keys case-insensitively
		{`{"source":{"topic":"r"},"source":{"partition":3}}`, false}, // repeated: encoding/json merges
		{`{"source":{"topic":"r"},"extra":1}`, false},
		{`{"source":null}`, false},
		{`{"source":{"topic":"\u0041"}}`, false},
		{`{"source":{"topic":"bad\xff"}}`, false},
		{`{"shard":2147483648}`, false},
		{`{"shard":1.0}`, false},
		{`{"from_us":9223372036854775808}`, false},
		{`{"from_us":01}`, false},
		{`{"partials":[{"aggs":[{"lo":1e400}]}]}`, false},
		{`{"partials":[{"aggs":[{"lo":.5}]}]}`, false},
		{`{"partials":[{"aggs":[{"lo":NaN}]}]}`, false},
		{`{"source":{"idle":null}}`, false},
		{`{"source":{"topic":"r"}}x`, false},
		{`{"source":{"topic":"r"}`, false},
		{`{"partials":[1,]}`, false},
		{``, false},
	} {
		if got := sameAsEncodingJSON(t, []byte(c.data)); got != c.read {
			t.Errorf("%s: reader took it %v, want %v", c.data, got, c.read)
		}
	}
}

// Random edits of real bundles (bytes dropped, doubled or changed to JSON's
// punctuation and digits): whatever the reader takes, encoding/json decodes
// to the same bundle.
func TestBundleReaderOnEditedBundles(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	const alphabet = `{}[]:,"\ -.0123456789eEntrufalsp_`
	read := 0
	for range 20000 {
		b := randBundle(r)
		data, _ := EncodeBundle(&b)
		for range 1 + r.Intn(3) {
			if len(data) == 0 {
				break
			}
			i := r.Intn(len(data))
			switch r.Intn(3) {
			case 0:
				data = append(data[:i:i], data[i+1:]...)
			case 1:
				data = append(data[:i+1:i+1], data[i:]...)
			default:
				data = append([]byte(nil), data...)
				data[i] = alphabet[r.Intn(len(alphabet))]
			}
		}
		if sameAsEncodingJSON(t, data) {
			read++
		}
	}
	t.Logf("the reader took %d of 20000 edited bundles", read)
}

func FuzzBundleReader(f *testing.F) {
	r := rand.New(rand.NewSource(5))
	for range 20 {
		b := randBundle(r)
		data, _ := EncodeBundle(&b)
		f.Add(data)
	}
	f.Add([]byte(`{"partials":[{"aggs":[{"sum":{"p":[1,2]},"lo":-0}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameAsEncodingJSON(t, data) })
}

// BenchmarkDecodeBundleManyKeys: a bundle of ~1 000 partials of (city,
// userId) keys with five aggregates, read by DecodeBundle (the reader) and
// by encoding/json, in one run for the ratio:
//
//	go test ./plugins/window/engine/ -run '^$' -bench DecodeBundleManyKeys -benchmem
func BenchmarkDecodeBundleManyKeys(b *testing.B) {
	e, err := NewLocal(twoStageConfig(StageLocal))
	if err != nil {
		b.Fatal(err)
	}
	t0 := at(b, "2026-03-14T00:00:00Z")
	rows := make([]Row, 4000)
	for i := range rows {
		rows[i] = Row{TimeUs: t0 + int64(i%300)*1_000_000, Key: `["C` + string(rune('A'+i%5)) + `",` + itoa(i%2000) + `]`,
			Values: []Value{{F: 12.75 + float64(i%13)}, {F: 3.1 * float64(i%7)}, Null, {F: 1.5}, {F: 2.5}},
			Pos:    Position{"rides", 0, int64(i)}, HasPos: true, Partitions: 1}
	}
	e.Process(rows, epoch)
	res := e.Process([]Row{{TimeUs: t0 + 3_600_000_000, Key: `["CA",0]`, Values: []Value{{F: 1}, {F: 1}, Null, {F: 1}, {F: 1}},
		Pos: Position{"rides", 0, 4000}, HasPos: true, Partitions: 1}}, epoch)
	var data []byte
	for i := range res.Bundles {
		if len(res.Bundles[i].Partials) >= 500 {
			data, _ = EncodeBundle(&res.Bundles[i])
		}
	}
	if data == nil {
		b.Fatalf("setup: no bundle of many partials in %d bundles", len(res.Bundles))
	}
	b.Run("reader", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := DecodeBundle(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var x Bundle
			if err := json.Unmarshal(data, &x); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}
