package fromjson

import (
	"fmt"
	"math/rand"
	"strings"
)

// seeds are hand-picked records at the edges of the parse: every rule of the
// mapping, JSON that a fast parser and encoding/json could read differently, and every
// timestamp form. They seed the fuzz target and the agreement test.
func seeds() [][]byte {
	const good = `{"rideId":42,"userId":7,"city":"fr","distanceKm":12.5,"price":18.4,"ts":"2026-03-14T08:58:43.498Z"}`
	recs := []string{
		good,
		`{"ts":"2026-03-14T08:58:43.498Z","price":18.4,"distanceKm":12.5,"city":"fr","userId":7,"rideId":42,"extra":{"a":[1,2,{"b":null}]}}`,
		` ` + good + "\n\t\r ",
		// Not one JSON object.
		``, ` `, `null`, `[]`, `[1]`, `"x"`, `42`, `true`, `{`, `}`, `{"rideId":1,"userId":2,`, good + `x`, good + good, good + ` {}`,
		"\xef\xbb\xbf" + good, `{'rideId':1}`, `{"rideId":1,}`, `{"rideId" 1}`, `{rideId:1}`,
		// Missing or null fields: all are named.
		`{}`, `{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":null,"userId":2,"city":"FR","distanceKm":5,"price":null,"ts":"2026-03-14T08:00:00Z"}`,
		// Types.
		`{"rideId":1.5,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":"1","userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":true,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1.0,"userId":2e0,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1e2,"userId":-0,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":-0.0,"userId":1E+2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":9007199254740993,"userId":-9223372036854775808,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":9223372036854775807,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":9223372036854775808,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1e400,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":1e400,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":1e-400,"price":-0,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":0.1e1,"price":123456789012345678901234567890,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":12,"distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":["FR"],"distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":"5","price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":{},"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":1773478800}`,
		`{"rideId":"x","userId":2,"city":5,"distanceKm":"5","price":3,"ts":5}`,
		`{"rideId":01,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":.5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5.,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":NaN,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":-Infinity,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":+1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		// Repeated keys: the last wins.
		`{"rideId":1,"rideId":"x","userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":"x","rideId":1,"userId":2,"city":"fr","city":"de","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z","price":null}`,
		// Strings: Unicode, escapes, invalid UTF-8, control characters.
		`{"rideId":1,"userId":2,"city":"straße","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"ǆemal ﬁ İstanbul 😀","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"a\"b\\c\/d\b\f\n\r\t","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"stra\u00dfe \ud83d\ude00","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"\ud800 \udc00x \ud800\u0041","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"c\u0069ty":"fr","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		"{\"rideId\":1,\"userId\":2,\"city\":\"f\xffr\xc3\",\"distanceKm\":5,\"price\":3,\"ts\":\"2026-03-14T08:00:00Z\"}",
		"{\"rideId\":1,\"userId\":2,\"city\":\"f\x01r\",\"distanceKm\":5,\"price\":3,\"ts\":\"2026-03-14T08:00:00Z\"}",
		"{\"rideId\":1,\"userId\":2,\"city\":\"f\x7fr\",\"distanceKm\":5,\"price\":3,\"ts\":\"2026-03-14T08:00:00Z\"}",
		`{"rideId":1,"userId":2,"city":"\x","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"\u12","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		`{"rideId":1,"userId":2,"city":"","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z"}`,
		// Deep nesting beside the fields: past the fast path's limit, within encoding/json's, and past both.
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z","deep":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `}`,
		`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"2026-03-14T08:00:00Z","deep":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	}
	for _, ts := range timestamps() {
		recs = append(recs, fmt.Sprintf(`{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":%q}`, ts))
	}
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = []byte(r)
	}
	return out
}

// timestamps are the forms to_timestamp takes and some it does not.
func timestamps() []string {
	return []string{
		"2026-03-14T08:58:43.498Z", "2026-03-14T08:58:43Z", "2026-03-14T08:58:43.123456789Z", "2026-03-14T08:58:43.1234567Z",
		"2026-03-14T10:00:00.123456789+02:00", "2026-03-14T01:00:00-07:00", "2026-03-14T08:00:00+00:00", "2026-03-14T08:00:00-00:00",
		"2026-03-14 08:00:00", "2026-03-14 08:00:00Z", "2026-03-14 08:00:00.5+01:00", " 2026-03-14T08:00:00Z ", "\t2026-03-14 08:00:00\n",
		"2026-03-14T08:00:00", "2026-03-14T08:00:00.999999999", "2026-03-14T8:00:00Z", "2026-03-14T08:00:00,5Z",
		"2026-03-14  08:00:00", "2026-03-14T08:00:00 Z", "2026-03-14", "08:00:00", "2026-3-14T08:00:00Z", "2026-03-14T24:00:00Z",
		"2026-02-29T08:00:00Z", "2024-02-29T08:00:00Z", "2026-03-14T08:60:00Z", "2026-03-14T08:00:60Z", "0000-01-01T00:00:00+01:00",
		"9999-12-31T23:59:59.999999999-01:00", "2026-03-14T08:00:00+2:00", "2026-03-14T08:00:00+0200", "2026-03-14T08:00:00+14:00",
		"2026-03-14T08:00:00+24:00", "2026-03-14T08:00:00UTC", "2026-03-14T08:00:00 Europe/Paris", "+2026-03-14T08:00:00Z",
		"-2026-03-14T08:00:00Z", "2026-03-14t08:00:00z", "yesterday at noon", "", " ", "2026-03-14T08:00:00.Z", "2026-03-14T08:00:00.",
	}
}

// corpus is the seeds, random well-formed rides, and byte-level mutations
// of them (most of which are bad JSON, some still good).
func corpus() [][]byte {
	rng := rand.New(rand.NewSource(11))
	out := seeds()
	cities := []string{"fr", "US", "straße", "İzmir", "ǆ", "mg", "a\\\"b", "東京", ""}
	nums := []string{"0", "-0", "1", "42", "-7", "1.0", "1.5", "1e2", "1E-2", "-3.25", "12.5", "18.4", "1e308", "4.9e-324", "9007199254740993", "123456789012"}
	tss := timestamps()
	pick := func(l []string) string { return l[rng.Intn(len(l))] }
	for i := 0; i < 3000; i++ {
		fields := []string{
			`"rideId":` + pick(nums), `"userId":` + pick(nums), fmt.Sprintf(`"city":"%s"`, pick(cities)),
			`"distanceKm":` + pick(nums), `"price":` + pick(nums), fmt.Sprintf(`"ts":%q`, pick(tss)),
		}
		if rng.Intn(4) == 0 {
			fields = append(fields, `"extra":[1,{"x":"y"}]`)
		}
		if rng.Intn(8) == 0 {
			fields = fields[1:] // a missing field
		}
		rng.Shuffle(len(fields), func(a, b int) { fields[a], fields[b] = fields[b], fields[a] })
		rec := []byte("{" + strings.Join(fields, ",") + "}")
		out = append(out, rec)
		out = append(out, mutate(rng, rec))
	}
	return out
}

// mutate changes, inserts or deletes a few bytes.
func mutate(rng *rand.Rand, rec []byte) []byte {
	m := append([]byte(nil), rec...)
	const alphabet = "{}[]\":,0123456789.eE+-tfnul \\ZT\x00\xff"
	for n := 1 + rng.Intn(3); n > 0 && len(m) > 0; n-- {
		i := rng.Intn(len(m))
		switch rng.Intn(3) {
		case 0:
			m[i] = alphabet[rng.Intn(len(alphabet))]
		case 1:
			m = append(m[:i], append([]byte{alphabet[rng.Intn(len(alphabet))]}, m[i:]...)...)
		default:
			m = append(m[:i], m[i+1:]...)
		}
	}
	return m
}
