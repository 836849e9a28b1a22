package window

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// The shortcuts must give engine.ParseTimestamp's and engine.EncodeKey's
// results exactly; the seeds run in every `go test`, `-fuzz` explores more.

var timestampSeeds = []string{
	"2026-03-14T00:01:00Z", "2026-03-14T00:01:00.1Z", "2026-03-14T00:01:00.123456Z",
	"2026-03-14T00:01:00.123456789Z", "2026-03-14T00:01:00.1234567891Z", "2026-03-14T00:01:00.Z",
	"2026-03-14T00:01:00,5Z", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z", "9999-12-31T23:59:59Z",
	"2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "2100-02-29T12:00:00Z", "2000-02-29T12:00:00Z",
	"2026-04-31T00:00:00Z", "2026-12-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
	"2026-03-00T00:00:00Z", "2026-03-14T24:00:00Z", "2026-03-14T23:60:00Z", "2026-03-14T23:59:60Z",
	"2026-03-14t00:01:00Z", "2026-03-14T00:01:00z", "2026-03-14 00:01:00Z", " 2026-03-14T00:01:00Z",
	"2026-03-14T00:01:00+00:00", "2026-3-14T00:01:00Z", "+026-03-14T00:01:00Z", "2026-03-14T00:01:0xZ",
	"2026-03-14T00:01:00.12a4Z", "2026-03-14T00:01Z", "1773446460", "",
}

func FuzzTimestampShortcutAgreesWithEngine(f *testing.F) {
	for _, s := range timestampSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := engine.ParseTimestamp(s)
		got, gerr := parseTimestamp(s)
		if (werr == nil) != (gerr == nil) || got != want || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("%q: shortcut %d %v, engine %d %v", s, got, gerr, want, werr)
		}
		if us, ok := parseUTCTimestamp(s); ok && us != want {
			t.Fatalf("%q: shortcut accepted %d, engine %d %v", s, us, want, werr)
		}
	})
}

func TestTimestampShortcutTakesTheCommonForms(t *testing.T) {
	for _, s := range []string{"2026-03-14T00:01:00Z", "2026-03-14T00:01:00.123Z", "1969-12-31T23:59:59.999999Z", "2024-02-29T12:00:00Z"} {
		us, ok := parseUTCTimestamp(s)
		want, _ := time.Parse(time.RFC3339Nano, s)
		if !ok || us != engine.TimeToMicros(want) {
			t.Errorf("%q: shortcut %d %v, want %d", s, us, ok, engine.TimeToMicros(want))
		}
	}
}

func FuzzKeyShortcutAgreesWithEngine(f *testing.F) {
	for _, s := range []string{"FR", "São Paulo", "R&D", "<b>", "a\"b", `a\b`, "tab\t", "\u2028", "\u2029", "\uFFFD", "\xff", "", "东京", "emoji 🚕"} {
		f.Add(s, s+"x", true)
	}
	f.Fuzz(func(t *testing.T, a, b string, flag bool) {
		for _, keys := range [][]any{{a}, {a, b}, {a, nil, flag}, {nil}, {flag, a}, {a, json.Number("7")}, {a, 7.5}} {
			want, werr := engine.EncodeKey(keys)
			got, gerr := encodeKey(keys)
			if got != want || (werr == nil) != (gerr == nil) {
				t.Fatalf("%q: shortcut %q %v, engine %q %v", keys, got, gerr, want, werr)
			}
		}
	})
}

// The batch's key cache gives the engine's key for repeated, escaped and
// non-string keys, before and after it is full.
func TestBatchKeyCacheGivesTheEnginesKeys(t *testing.T) {
	q := &queries{}
	for round := 0; round < 2; round++ {
		for i := 0; i < 2*keyCacheMax; i++ {
			for _, keys := range [][]any{
				{fmt.Sprintf("CITY-%d", i%(keyCacheMax+10))},
				{fmt.Sprintf("a\"<%d>", i%5)},
				{nil}, {true}, {json.Number("42")},
				{"PARIS", fmt.Sprintf("d%d", i%3)},
			} {
				got, gerr := q.encodeKey(keys)
				want, werr := engine.EncodeKey(keys)
				if got != want || (gerr == nil) != (werr == nil) {
					t.Fatalf("%v: %q, %v; engine %q, %v", keys, got, gerr, want, werr)
				}
			}
		}
	}
	if len(q.keys) > keyCacheMax {
		t.Fatalf("cache holds %d keys, more than %d", len(q.keys), keyCacheMax)
	}
}

// daysSinceEpoch counts every day of years 0000–9999 as time.Date does.
func TestDaysSinceEpochAgreesWithTimeDate(t *testing.T) {
	d := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	for ; d.Year() < 10000; d = d.AddDate(0, 0, 1) {
		// d is a midnight: its Unix time is a whole number of days.
		if got, want := daysSinceEpoch(d.Year(), int(d.Month()), d.Day()), d.Unix()/86400; got != want {
			t.Fatalf("%s: %d, want %d", d.Format("2006-01-02"), got, want)
		}
	}
}
