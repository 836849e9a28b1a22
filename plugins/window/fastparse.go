package window

import (
	"strings"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// parseTimestamp is engine.ParseTimestamp with a shortcut for the common
// RFC 3339 UTC string (2025-03-14T12:07:00.123Z), which otherwise goes
// through time.Parse. The shortcut only ever accepts: anything it does not
// recognise (or recognises as out of range) goes to the engine, which gives
// the value or the error.
func parseTimestamp(v any) (int64, error) {
	if s, ok := v.(string); ok {
		if us, ok := parseUTCTimestamp(s); ok {
			return us, nil
		}
	}
	return engine.ParseTimestamp(v)
}

// parseUTCTimestamp reads YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z exactly.
func parseUTCTimestamp(s string) (int64, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	nanos := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return 0, false
		}
		f, ok := digits(frac[1:])
		if !ok {
			return 0, false
		}
		nanos = f
		for i := len(frac) - 1; i < 9; i++ {
			nanos *= 10
		}
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false // the engine words the error
	}
	secs := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return secs*1_000_000 + int64(nanos/1000), true // engine.TimeToMicros of that instant
}

// daysSinceEpoch is the day number of a proleptic Gregorian date (year
// 0–9999) counted from 1970-01-01, as time.Date reckons it, without
// time.Date's normalisation: the shortcut has range-checked the date.
func daysSinceEpoch(year, month, day int) int64 {
	y := year
	if month <= 2 {
		y-- // count the year from March, so the leap day is its last
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400                             // year of the 400-year era, 0–399
	doy := (153*((month+9)%12)+2)/5 + day - 1      // day of the March-based year, 0–365
	doe := yoe*365 + yoe/4 - yoe/100 + doy         // day of the era, 0–146096
	return int64(era)*146097 + int64(doe) - 719468 // 719468: days from 0000-03-01 to 1970-01-01
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	if month == 2 {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - (month-1)%7%2
}

// encodeKey is engine.EncodeKey without encoding/json for keys made of
// strings that JSON writes verbatim (the usual city, user or device id),
// nulls and booleans. Anything else goes to the engine, so the canonical key
// (and the window_id derived from it) is byte for byte the same.
func encodeKey(keys []any) (string, error) {
	n := 2
	for _, k := range keys {
		switch t := k.(type) {
		case string:
			if !verbatimJSON(t) {
				return engine.EncodeKey(keys)
			}
			n += len(t) + 3
		case nil, bool:
			n += 6
		default:
			return engine.EncodeKey(keys)
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('[')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		switch t := k.(type) {
		case string:
			b.WriteByte('"')
			b.WriteString(t)
			b.WriteByte('"')
		case bool:
			if t {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		default:
			b.WriteString("null")
		}
	}
	b.WriteByte(']')
	return b.String(), nil
}

// verbatimJSON reports whether encoding/json writes s between quotes as is:
// valid UTF-8 without control characters, quotes, backslashes, the HTML
// characters it escapes (<, >, &) or U+2028/U+2029.
func verbatimJSON(s string) bool {
	for _, r := range s {
		switch {
		case r < 0x20, r == '"', r == '\\', r == '<', r == '>', r == '&':
			return false
		case r == '\u2028', r == '\u2029', r == '\uFFFD': // U+FFFD: also invalid UTF-8
			return false
		}
	}
	return true
}
