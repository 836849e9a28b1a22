package typed

import (
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
