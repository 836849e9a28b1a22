package typed

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/miaradia/rides-connect/plugins/textcase"
)

func ridesFields() []Field {
	return []Field{
		{Name: "rideId", Type: Long, Required: true},
		{Name: "userId", Type: Long, Required: true},
		{Name: "city", Type: String, Required: true, Transform: UpperUnicode},
		{Name: "distanceKm", Type: Double, Required: true},
		{Name: "price", Type: Double, Required: true},
		{Name: "ts", Type: Timestamp, Required: true},
	}
}

func mustParser(t testing.TB, fields []Field) *Parser {
	t.Helper()
	s, err := NewSchema(fields)
	if err != nil {
		t.Fatal(err)
	}
	return NewParser(s)
}

func TestParseTypesTheDeclaredFieldsAndDropsTheRest(t *testing.T) {
	p := mustParser(t, ridesFields())
	got, err := p.Parse([]byte(`{"extra":[1,{"a":2}],"rideId":42,"userId":7.0,"city":"straße","distanceKm":12,"price":18.4,"ts":"2026-03-14 10:00:00.1234567+02:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"rideId": int64(42), "userId": int64(7), "city": "STRASSE", "distanceKm": 12.0, "price": 18.4, "ts": "2026-03-14T08:00:00.123456Z"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	for k, v := range want {
		if fmt.Sprintf("%T", got[k]) != fmt.Sprintf("%T", v) {
			t.Errorf("%s: type %T, want %T", k, got[k], v)
		}
	}
}

func TestOptionalBooleanAndLowerCase(t *testing.T) {
	p := mustParser(t, []Field{
		{Name: "id", Type: Long, Required: true},
		{Name: "paid", Type: Boolean},
		{Name: "note", Type: String, Transform: LowerUnicode},
		{Name: "at", Type: Timestamp},
	})
	got, err := p.Parse([]byte(`{"id":1,"paid":false,"note":"İSTANBUL ǅ"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got["paid"] != false || got["note"] != "i̇stanbul ǆ" || got["at"] != nil || len(got) != 4 {
		t.Fatalf("got %#v", got)
	}
	if _, ok := got["at"]; !ok {
		t.Fatal("a missing optional field must be in the output as null")
	}
	if _, err := p.Parse([]byte(`{"id":1,"paid":"yes"}`)); err == nil || err.Error() != "bad_type: paid must be a boolean" {
		t.Fatalf("got %v", err)
	}
}

// The error texts are those of the Bloblang mapping the parse replaced; the
// dead-letter envelope and the config tests read them.
func TestErrorTextsNameTheFields(t *testing.T) {
	p := mustParser(t, ridesFields())
	cases := map[string]string{
		`{"rideId":1,`: "bad_json: the record value is not a JSON object",
		`[1,2]`:        "bad_json: the record value is not a JSON object",
		``:             "bad_json: the record value is not a JSON object",
		`{"rideId":1,"city":null,"distanceKm":5}`:                                                         "missing_field: missing or null: userId, city, price, ts",
		`{"rideId":1.5,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`:      "bad_type: rideId and userId must be integers",
		`{"rideId":1e19,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`:     "bad_type: rideId and userId must be integers",
		`{"rideId":1,"userId":2,"city":3,"distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`:           "bad_type: city must be a string",
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":1e999,"ts":"2026-03-14T08:00:00Z"}`:    "bad_type: distanceKm and price must be numbers",
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":12}`:                            "bad_timestamp: ts must be an ISO-8601 string",
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"yesterday"}`:                   "bad_timestamp: not an ISO-8601 timestamp: yesterday",
		`{"rideId":"1","userId":2,"city":3,"distanceKm":"5","price":3,"ts":"2026-03-14T08:00:00Z"}`:       "bad_type: rideId and userId must be integers",
		`{"rideId":1,"userId":2,"city":"\u0046R","distanceKm":"5","price":3,"ts":"2026-03-14T08:00:00Z"}`: "bad_type: distanceKm and price must be numbers",
	}
	for in, want := range cases {
		_, err := p.Parse([]byte(in))
		var te *Error
		if !errors.As(err, &te) || err.Error() != want || !strings.HasPrefix(want, te.Reason+": ") {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}

func TestSchemaIsChecked(t *testing.T) {
	cases := map[string][]Field{
		"at least one field":       nil,
		"schema[1].name: must not": {{Name: "a", Type: Long}, {Type: Long}},
		`"a" is declared twice`:    {{Name: "a", Type: Long}, {Name: "a", Type: String}},
		"schema[0].transform":      {{Name: "a", Type: Long, Transform: UpperUnicode}},
		"schema[0].type":           {{Name: "a"}},
	}
	for want, fields := range cases {
		if _, err := NewSchema(fields); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: got %v, want %q", fields, err, want)
		}
	}
	if _, err := ParseType("int"); err == nil || !strings.Contains(err.Error(), "long, double") {
		t.Errorf("ParseType: %v", err)
	}
	if _, err := ParseTransform("upper"); err == nil || !strings.Contains(err.Error(), "upper_unicode") {
		t.Errorf("ParseTransform: %v", err)
	}
}

// TestTypeErrorsNameEveryFieldOfTheType: the wording scales past two fields.
func TestTypeErrorsNameEveryFieldOfTheType(t *testing.T) {
	p := mustParser(t, []Field{{Name: "a", Type: Double, Required: true}, {Name: "b", Type: Double}, {Name: "c", Type: Double}, {Name: "t", Type: Timestamp}, {Name: "u", Type: Timestamp}})
	if _, err := p.Parse([]byte(`{"a":1,"b":"x"}`)); err == nil || err.Error() != "bad_type: a, b and c must be numbers" {
		t.Fatalf("got %v", err)
	}
	if _, err := p.Parse([]byte(`{"a":1,"u":[]}`)); err == nil || err.Error() != "bad_timestamp: t and u must be ISO-8601 strings" {
		t.Fatalf("got %v", err)
	}
}

// The fast path (fastjson) and the slow path (encoding/json, as Benthos)
// must give the same result on every record the fast path takes.
func TestFastAndSlowPathsAgree(t *testing.T) {
	p := mustParser(t, ridesFields())
	recs := []string{
		`{"rideId":42,"userId":7,"city":"fr","distanceKm":12.5,"price":18.4,"ts":"2026-03-14T08:58:43.498Z"}`,
		`{"rideId":1e2,"userId":-0,"city":"a\"b\\c\/d\b\f\n\r\t","distanceKm":1e-400,"price":-0,"ts":" 2026-03-14 08:00:00 "}`,
		`{"rideId":1,"rideId":2,"userId":2,"city":"x","city":"ǆ","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00+01:00","ts":"2026-03-14T08:00:00"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z","x":[[[{"y":null}]]]}`,
		`{"rideId":1.5,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":null,"distanceKm":5,"ts":"x"}`,
		`{"rideId":1,"userId":2,"city":true,"distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`[{"rideId":1}]`,
	}
	for _, rec := range recs {
		sc := p.scratch.Get().(*scratch)
		handled, ferr := p.fast(sc, []byte(rec))
		if !handled {
			t.Fatalf("%s: not on the fast path", rec)
		}
		var fast map[string]any
		if ferr == nil {
			fast, ferr = p.convert(sc)
		}
		serr := p.slow(sc, []byte(rec))
		var slow map[string]any
		if serr == nil {
			slow, serr = p.convert(sc)
		}
		if fmt.Sprint(fast, ferr) != fmt.Sprint(slow, serr) {
			t.Errorf("%s:\nfast %v %v\nslow %v %v", rec, fast, ferr, slow, serr)
		}
	}
}

func TestParserIsSafeForConcurrentUse(t *testing.T) {
	p := mustParser(t, ridesFields())
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				rec := fmt.Sprintf(`{"rideId":%d,"userId":%d,"city":"c%d","distanceKm":%d.5,"price":1,"ts":"2026-03-14T08:00:%02dZ"}`, i, g, g, i, i%60)
				got, err := p.Parse([]byte(rec))
				if err != nil || got["rideId"] != int64(i) || got["userId"] != int64(g) || got["city"] != fmt.Sprintf("C%d", g) || got["distanceKm"] != float64(i)+0.5 {
					t.Errorf("%s: %v %v", rec, got, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

// The output must not alias the parser's buffers, which the next record reuses.
func TestOutputOutlivesTheNextParse(t *testing.T) {
	p := mustParser(t, []Field{{Name: "s", Type: String, Required: true}})
	a, err := p.Parse([]byte(`{"s":"FIRST"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse([]byte(`{"s":"OTHER"}`)); err != nil {
		t.Fatal(err)
	}
	if a["s"] != "FIRST" {
		t.Fatalf("first output changed to %v", a["s"])
	}
}

// The ASCII shortcut must give what the full Unicode mapping gives.
func TestTransformASCIIShortcutMatchesTextcase(t *testing.T) {
	var all []byte
	for c := 0; c < 128; c++ {
		all = append(all, byte(c))
	}
	for _, in := range [][]byte{all, []byte("fr"), []byte("Paris-Nord_2"), []byte(""), []byte("straße")} {
		if got, want := transform(in, UpperUnicode), textcase.Upper(string(in)); got != want {
			t.Errorf("upper %q: %q, want %q", in, got, want)
		}
		if got, want := transform(in, LowerUnicode), textcase.Lower(string(in)); got != want {
			t.Errorf("lower %q: %q, want %q", in, got, want)
		}
		if got := transform(in, NoTransform); got != string(in) {
			t.Errorf("none %q: %q", in, got)
		}
	}
}

// A string field's cache gives what a fresh transform gives, for values seen
// before, values past the cache's size, and values that differ from a cached
// one only after its bytes (a prefix).
func TestStringCacheGivesTheTransformsValues(t *testing.T) {
	p := mustParser(t, []Field{{Name: "c", Type: String, Required: true, Transform: UpperUnicode}, {Name: "d", Type: String, Required: true}})
	for round := 0; round < 3; round++ {
		for i := 0; i < 3*internMax; i++ {
			c := fmt.Sprintf("city-%d-straße", i%(2*internMax))
			if i%7 == 0 {
				c = c[:len(c)-3] // a prefix of a cached value
			}
			d := fmt.Sprintf("Raw-%d", i)
			out, err := p.Parse(fmt.Appendf(nil, `{"c":%q,"d":%q}`, c, d))
			if err != nil {
				t.Fatal(err)
			}
			if want := textcase.Upper(c); out["c"] != want {
				t.Fatalf("round %d: c %q gave %q, want %q", round, c, out["c"], want)
			}
			if out["d"] != d {
				t.Fatalf("round %d: d %q gave %q", round, d, out["d"])
			}
		}
	}
}
