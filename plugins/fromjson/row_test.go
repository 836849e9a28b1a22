package fromjson

import (
	"bytes"
	"fmt"
	"math/rand"
	"strconv"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/fromjson/typed"
)

// numberLiterals are double and long literals at the edges of the Row's
// literal copy: digit counts around 15, leading and trailing zeros, around
// 1e-6 and 1e21, signs, exponents.
func numberLiterals(rng *rand.Rand) []string {
	out := []string{"0", "-0", "0.0", "-0.0", "1", "-1", "10", "100", "0.1", "0.10", "1.50", "0.000001", "0.0000001",
		"0.00000123", "-0.000001", "123456789012345", "1234567890123456", "12345678901234567", "0.123456789012345",
		"0.1234567890123456", "1.23456789012345", "12345678.9012345", "999999999999999", "9999999999999999",
		"1e21", "1e20", "100000000000000000000", "1000000000000000000000", "1e-7", "1E+2", "4.9e-324", "1.7976931348623157e308",
		"9007199254740993", "-9223372036854775808", "9223372036854775807", "18.4", "12.5", "0.3", "2.675", "1.005"}
	for i := 0; i < 2000; i++ {
		lit := strconv.FormatInt(rng.Int63n(1_000_000_000_000_000), 10)
		if n := rng.Intn(18); n > 0 && n < len(lit) {
			lit = lit[:len(lit)-n] + "." + lit[len(lit)-n:]
		}
		if rng.Intn(4) == 0 {
			lit = "0." + lit[:1+rng.Intn(len(lit))]
			lit = lit[:min(len(lit), 2+rng.Intn(20))]
		}
		if rng.Intn(3) == 0 {
			lit = "-" + lit
		}
		if lit[len(lit)-1] == '.' {
			lit += "0"
		}
		out = append(out, lit)
	}
	return out
}

// benthosJSON is the content Benthos gives a message whose structured content is v.
func benthosJSON(v any) []byte {
	m := service.NewMessage(nil)
	m.SetStructured(v)
	b, _ := m.AsBytes()
	return b
}

// ParseRow must give what Parse gives: the same errors, the map's values by
// field, and as JSON exactly the bytes Benthos makes of the map, so that a
// reader of the content (Bloblang, the dead-letter envelope) sees the same
// object either way.
func TestRowIsTheMapAndItsJSON(t *testing.T) {
	s := ridesSchema(t)
	p := typed.NewParser(s)
	rng := rand.New(rand.NewSource(10))
	recs := corpus()
	for _, n := range numberLiterals(rng) {
		recs = append(recs,
			[]byte(`{"rideId":1,"userId":2,"city":"fr","distanceKm":`+n+`,"price":`+n+`,"ts":"2026-03-14T08:00:00Z"}`),
			[]byte(`{"rideId":`+n+`,"userId":`+n+`,"city":"<a&b>","distanceKm":1,"price":2,"ts":"2026-03-14T08:00:00Z"}`))
	}
	ok := 0
	for _, rec := range recs {
		m, err := p.Parse(rec)
		row, rerr := p.ParseRow(rec)
		if fmt.Sprint(err) != fmt.Sprint(rerr) {
			t.Fatalf("%s: Parse error %v, ParseRow error %v", rec, err, rerr)
		}
		if err != nil {
			continue
		}
		ok++
		for i, f := range s.Fields() {
			got, want := row.Vals[i], m[f.Name]
			if fmt.Sprintf("%T %#v", got, got) != fmt.Sprintf("%T %#v", want, want) {
				t.Fatalf("%s: %s is %T %#v, the map has %T %#v", rec, f.Name, got, got, want, want)
			}
			if row.Field(f.Name) != want {
				t.Fatalf("%s: Field(%s) = %#v", rec, f.Name, row.Field(f.Name))
			}
		}
		if want := benthosJSON(m); !bytes.Equal(row.JSON, want) {
			t.Fatalf("%s:\nrow JSON %s\nBenthos  %s", rec, row.JSON, want)
		}
	}
	if ok < 2000 {
		t.Fatalf("only %d records parsed: the corpus no longer exercises the JSON", ok)
	}
}
