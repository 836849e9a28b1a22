package engine

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestWindowStartBoundaries(t *testing.T) {
	const min5 = int64(5 * 60 * 1_000_000)
	cases := []struct {
		name       string
		ts, offset int64
		want       int64
	}{
		{"on a boundary belongs to the later window", 2 * min5, 0, 2 * min5},
		{"one µs before a boundary", 2*min5 - 1, 0, min5},
		{"epoch", 0, 0, 0},
		{"one µs before 1970", -1, 0, -min5},
		{"pre-1970 on a boundary", -min5, 0, -min5},
		{"pre-1970 mid-window", -min5 - 7, 0, -2 * min5},
		{"offset shifts starts", min5 + 30_000_000, 60_000_000, min5 + 60_000_000 - min5},
		{"offset boundary", min5 + 60_000_000, 60_000_000, min5 + 60_000_000},
	}
	for _, c := range cases {
		if got := windowStart(c.ts, min5, c.offset); got != c.want {
			t.Errorf("%s: windowStart(%d) = %d, want %d", c.name, c.ts, got, c.want)
		}
		if got := windowStart(c.ts, min5, c.offset); !(got <= c.ts && c.ts < got+min5) {
			t.Errorf("%s: ts %d outside [%d,%d)", c.name, c.ts, got, got+min5)
		}
	}
}

func TestWatermarkMsTruncatesLikeTheJVM(t *testing.T) {
	if got := microsToWatermarkMs(1999); got != 1 {
		t.Errorf("1999µs → %d ms, want 1", got)
	}
	if got := microsToWatermarkMs(-1999); got != -1 {
		t.Errorf("-1999µs → %d ms, want -1 (truncation toward zero)", got)
	}
}

func TestParseTimestamp(t *testing.T) {
	ref := time.Date(2025, 3, 14, 12, 7, 0, 0, time.UTC)
	cases := []struct {
		in   any
		want int64
	}{
		{"2025-03-14T12:07:00Z", TimeToMicros(ref)},
		{"2025-03-14 12:07:00", TimeToMicros(ref)},
		{"  2025-03-14T13:07:00+01:00 ", TimeToMicros(ref)},
		{"2025-03-14T12:07:00.1234569Z", TimeToMicros(ref) + 123456}, // 7th digit truncated
		{"2025-03-14T12:07:00.000001Z", TimeToMicros(ref) + 1},
		{"2025-03-14", TimeToMicros(ref.Truncate(24 * time.Hour))},
		{ref, TimeToMicros(ref)},
		{ref.Unix(), TimeToMicros(ref)},
		{float64(ref.Unix()) + 0.5, TimeToMicros(ref) + 500_000},
		{"1969-12-31T23:59:59.999999Z", -1},
		{-0.5, -500_000},
	}
	for _, c := range cases {
		got, err := ParseTimestamp(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseTimestamp(%#v) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{nil, "", "not-a-time", "2025-13-40T00:00:00Z", true, map[string]any{}} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%#v) accepted a bad timestamp", bad)
		}
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	mods := map[string]func(*Config){
		"size":            func(c *Config) { c.Size = 1500 * time.Microsecond },
		"offset":          func(c *Config) { c.Offset = c.Size },
		"watermark.delay": func(c *Config) { c.Delay = -time.Second },
		"watermark.mode":  func(c *Config) { c.Mode = "max" },
		"group_by":        func(c *Config) { c.GroupNames = []string{"window_start"} },
		"aggregates":      func(c *Config) { c.Aggregates = append(c.Aggregates, AggSpec{Name: "city", Op: OpSum, HasValue: true}) },
	}
	for field, mod := range mods {
		c := ridesConfig()
		mod(&c)
		err := c.Validate()
		if err == nil || !contains(err.Error(), field) {
			t.Errorf("%s: got %v, want an error naming the field", field, err)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// partKey names a partition in the checkpointed state: the format must not change.
func TestPartKeyFormat(t *testing.T) {
	for _, p := range []Position{{Topic: "rides", Partition: 0}, {Topic: "a/b", Partition: 12}, {Topic: "", Partition: -1}, {Topic: "t", Partition: math.MaxInt32}} {
		if got, want := p.Key(), fmt.Sprintf("%s/%d", p.Topic, p.Partition); got != want {
			t.Errorf("partKey %q, want %q", got, want)
		}
	}
}
