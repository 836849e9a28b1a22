package typed

import (
	"math/rand"
	"testing"
	"time"
)

func TestTimestampForms(t *testing.T) {
	cases := map[string]string{
		"2026-03-14T08:58:43.498Z":            "2026-03-14T08:58:43.498Z",
		"2026-03-14T10:00:00.123456789+02:00": "2026-03-14T08:00:00.123456Z", // truncated, not rounded
		"2026-03-14 08:00:00":                 "2026-03-14T08:00:00Z",        // no zone: UTC
		" 2026-03-14T08:00:00.5-01:00\n":      "2026-03-14T09:00:00.5Z",
		"2026-03-14T08:00:00,25Z":             "2026-03-14T08:00:00.25Z",
	}
	for in, want := range cases {
		ts, ok := ParseTimestamp(in)
		if !ok || FormatTimestamp(ts) != want {
			t.Errorf("%q: got %v %q, want %q", in, ok, FormatTimestamp(ts), want)
		}
	}
	for _, bad := range []string{"", "2026-03-14", "2026-03-14T08:00:00 Z", "2026-02-29T08:00:00Z", "1773478800", "2026-03-14T08:00:00+0200"} {
		if ts, ok := ParseTimestamp(bad); ok {
			t.Errorf("%q: accepted as %v", bad, ts)
		}
	}
	if got := FormatTimestamp(time.Date(2026, 3, 14, 9, 0, 0, 999, time.FixedZone("x", 3600))); got != "2026-03-14T08:00:00Z" {
		t.Errorf("sub-µs digits must be dropped: %s", got)
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
