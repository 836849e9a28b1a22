package typed

import (
	"bufio"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTimestampForms(t *testing.T) {
	cases := map[string]string{
		"2026-03-14T08:58:43.498Z":            "2026-03-14T08:58:43.498Z",
		"2026-03-14T10:00:00.123456789+02:00": "2026-03-14T08:00:00.123456Z", // truncated, not rounded
		"2026-03-14 08:00:00":                 "2026-03-14T08:00:00Z",        // no zone: UTC
		" 2026-03-14T08:00:00.5-01:00\n":      "2026-03-14T09:00:00.5Z",
		// Spark's cast takes these too (found by the red team of 4 Dec: dead-lettered before).
		"2026-03-14T08:00:00+0200":         "2026-03-14T06:00:00Z",    // strftime's %z
		"2026-03-14 08:00:00.25+00":        "2026-03-14T08:00:00.25Z", // PostgreSQL's timestamptz text
		"2026-03-14T08:58":                 "2026-03-14T08:58:00Z",    // java.time.LocalDateTime at :00
		"2026-03-14":                       "2026-03-14T00:00:00Z",
		"2026-3-4 8:05:09":                 "2026-03-04T08:05:09Z",
		"2026-03-14T08:00:00 Z":            "2026-03-14T08:00:00Z",
		"2026-03-14 08:00:00.123 +01:00":   "2026-03-14T07:00:00.123Z",
		"2026-03-14T08:00:00 Europe/Paris": "2026-03-14T07:00:00Z",
		"2026-03-14T08:00:00UTC+5:30":      "2026-03-14T02:30:00Z",
		"2026-03-14T08:00:00PST":           "2026-03-14T15:00:00Z", // PDT since 8 March
		"2026-03-29 02:30:00 Europe/Paris": "2026-03-29T01:30:00Z", // in the DST gap: moved forward by it
		"2026-10-25 02:30:00 Europe/Paris": "2026-10-25T00:30:00Z", // in the overlap: the earlier offset
	}
	for in, want := range cases {
		ts, ok := ParseTimestamp(in)
		if !ok || FormatTimestamp(ts) != want {
			t.Errorf("%q: got %v %q, want %q", in, ok, FormatTimestamp(ts), want)
		}
	}
	// Spark refuses the first ones; the last ones it takes, deliberately not here:
	// a time without a date is dated by the day it is read, and the output form
	// holds years 0000-9999 only.
	for _, bad := range []string{"", "2026-02-29T08:00:00Z", "1773478800", "2026-03-14T08:00:00,25Z", "2026-03-14T08:00:00+19:00",
		"2026-03-14T08:58Z", "2026-03-14T08:00:00z", "2026-03-14T08:00:00 Mars/Olympus", "2026-03-14T08:00:00Local",
		"08:58:43", "T08:58:43", "+10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z"} {
		if ts, ok := ParseTimestamp(bad); ok {
			t.Errorf("%q: accepted as %v", bad, ts)
		}
	}
	if got := FormatTimestamp(time.Date(2026, 3, 14, 9, 0, 0, 999, time.FixedZone("x", 3600))); got != "2026-03-14T08:00:00Z" {
		t.Errorf("sub-µs digits must be dropped: %s", got)
	}
}

// The seed job reads ts with to_timestamp, Spark's cast of a string: every
// spelling of testdata/spark_timestamps.txt (hand-picked edges and random
// strings around the grammar: offsets, zone names, DST gaps and overlaps,
// single digits, missing parts, commas, control bytes) must give Spark 4.2's
// instant, or be refused where Spark gives null. Spark's own results, recorded
// with pyspark (unix_micros(to_timestamp(s)), session zone UTC, ANSI off).
func TestTimestampsAsSparkCastsThem(t *testing.T) {
	f, err := os.Open("testdata/spark_timestamps.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, accepted := 0, 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		q, want, ok := strings.Cut(line, "\t")
		in, err := strconv.Unquote(q)
		if !ok || err != nil {
			t.Fatalf("bad line %q", line)
		}
		n++
		ts, ok := ParseTimestamp(in)
		switch {
		case want == "null" && ok:
			t.Errorf("%q: Spark refuses it, accepted as %s", in, FormatTimestamp(ts))
		case want != "null" && !ok:
			t.Errorf("%q: Spark reads %s µs, refused", in, want)
		case ok && strconv.FormatInt(ts.UnixMicro(), 10) != want:
			t.Errorf("%q: Spark reads %s µs, got %d (%s)", in, want, ts.UnixMicro(), FormatTimestamp(ts))
		}
		if ok {
			accepted++
		}
	}
	if n < 3000 || accepted < 2000 {
		t.Fatalf("only %d spellings (%d accepted) read", n, accepted)
	}
}

// isCanonical must only ever say yes where the full parse and format give
// the string back: random strings in and around the pattern.
func TestCanonicalTimestampsAreTheirOwnOutput(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	const chars = "0123456789"
	yes := 0
	for i := 0; i < 200000; i++ {
		b := []byte("2026-03-14T08:58:43.123456Z")
		for _, pos := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 23, 24, 25} {
			if rng.Intn(3) == 0 {
				b[pos] = chars[rng.Intn(10)]
			}
		}
		s := string(b[:20+rng.Intn(8)]) // cut the fraction anywhere
		if rng.Intn(2) == 0 {
			s = s[:len(s)-1] + "Z"
		}
		if rng.Intn(50) == 0 {
			s = s[:rng.Intn(len(s))] + string("T:-.Z 9"[rng.Intn(7)]) + s[rng.Intn(len(s)):]
		}
		checkCanonical(t, s)
		if isCanonical(s) {
			yes++
		}
	}
	for _, s := range []string{"2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2026-03-14T08:58:43.1Z", "2026-03-14T08:58:43.10Z", "2026-03-14T08:58:43.Z", "2026-03-14T08:58:43.1234567Z"} {
		checkCanonical(t, s)
	}
	if yes < 1000 {
		t.Fatalf("only %d canonical strings generated: the test does not test", yes)
	}
}

func checkCanonical(t *testing.T, s string) {
	t.Helper()
	if isCanonical(s) {
		ts, ok := ParseTimestamp(s)
		if !ok || FormatTimestamp(ts) != s {
			t.Fatalf("%q: canonical, but parses to %v %q", s, ok, FormatTimestamp(ts))
		}
	}
	if c, ok := canonicalize(nil, []byte(s)); ok {
		ts, pok := ParseTimestamp(s)
		if !pok || FormatTimestamp(ts) != string(c) {
			t.Fatalf("%q: canonicalized to %q, but parses to %v %q", s, c, pok, FormatTimestamp(ts))
		}
	}
}

// canonicalize takes the producer's fixed-width fractions without a parse
// and gives what the parse gives.
func TestCanonicalizeTakesFixedWidthFractions(t *testing.T) {
	for _, c := range [][2]string{
		{"2026-03-14T08:58:43.120Z", "2026-03-14T08:58:43.12Z"},
		{"2026-03-14T08:58:43.000Z", "2026-03-14T08:58:43Z"},
		{"2026-03-14T08:58:43.123456789Z", "2026-03-14T08:58:43.123456Z"},
		{"2026-03-14T08:58:43.1234560Z", "2026-03-14T08:58:43.123456Z"},
		{"2024-02-29T23:59:59.9000000Z", "2024-02-29T23:59:59.9Z"},
	} {
		got, ok := canonicalize(nil, []byte(c[0]))
		if !ok || string(got) != c[1] {
			t.Errorf("%s: %q %v, want %s", c[0], got, ok, c[1])
		}
		checkCanonical(t, c[0])
	}
	for _, s := range []string{"2023-02-29T00:00:00.100Z", "2026-03-14T08:58:43.1234567890Z", "2026-03-14T08:58:43.Z", "2026-03-14T24:00:00.0Z", "2026-03-14 08:58:43.120Z", "2026-03-14T08:58:43.1x0Z"} {
		if got, ok := canonicalize(nil, []byte(s)); ok {
			t.Errorf("%s: taken as %q", s, got)
		}
	}
}

func FuzzCanonicalTimestamps(f *testing.F) {
	for _, s := range []string{"2026-03-14T08:58:43.498Z", "2024-02-29T23:59:59Z", "2026-03-14T08:58:43.10Z", "2026-03-14T08:58:43.120Z", "2026-03-14T08:58:43.123456789Z"} {
		f.Add(s)
	}
	f.Fuzz(checkCanonical)
}
