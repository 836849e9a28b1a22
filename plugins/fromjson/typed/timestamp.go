package typed

import (
	"time"
)

// layoutOut is the output: UTC, fraction truncated to µs, trailing zeros
// dropped (2026-03-14T08:58:43.498Z), which the window reads on its fast path.
const layoutOut = "2006-01-02T15:04:05.999999Z"

// ParseTimestamp reads s as the seed job's to_timestamp(ts) does: Spark 4's
// cast of a string to a timestamp (DateTimeUtils.stringToTimestamp) with the
// session time zone UTC. After trimming ASCII control bytes and spaces:
//
//	[+|-]yyyy[yy][-[m]m[-[d]d[( |T)[h]h[:[m]m[:[s]s[.fraction][zone]]]]]]
//
// with missing parts 1 (month, day) or 0 (time), any number of fraction digits
// (past µs truncated, not rounded; '.' only: Spark refuses ','), and a zone
// right after the seconds or the fraction, spaces allowed before it: Z, an
// offset (+h, +hh, +hh:mm, +hhmm, +hh:mm:ss, +hhmmss, +h:mm, +hh:m; at most
// ±18:00), UTC/GMT/UT alone or followed by an offset, a region (Europe/Paris)
// or one of Java's short IDs (PST, CET, ...). A local time in a region's DST
// gap moves forward by the gap and one in an overlap takes the earlier offset,
// as java.time does. No zone means UTC.
//
// Refused although Spark takes them: a time without a date (T08:58:43,
// 08:58:43), which Spark dates with the day it runs, and years outside
// 0000–9999, which the output form cannot hold.
func ParseTimestamp(s string) (time.Time, bool) {
	b := trimControl(s)
	var seg = [7]int{1, 1, 1, 0, 0, 0, 0}
	i, val, digits, fracDigits := 0, 0, 0, 0
	j := 0
	if j < len(b) && (b[j] == '-' || b[j] == '+') {
		if b[j] == '-' {
			return time.Time{}, false // a year before 0000
		}
		j++
	}
	zone, hasZone := "", false
scan:
	for ; j < len(b); j++ {
		c := b[j]
		if c >= '0' && c <= '9' {
			if i == 6 {
				fracDigits++
			}
			if i != 6 || digits < 6 {
				val = val*10 + int(c-'0')
			}
			digits++
			if i != 6 && digits > 6 {
				return time.Time{}, false // too many digits for any segment
			}
			continue
		}
		var ok bool
		switch {
		case i < 2:
			ok = c == '-' // ':' here would start a time without a date
		case i == 2:
			ok = c == ' ' || c == 'T'
		case i == 3 || i == 4:
			ok = c == ':'
		default: // i == 5 (seconds) or 6 (fraction)
			if !validDigits(i, digits) {
				return time.Time{}, false
			}
			seg[i] = val
			if c == '.' && i == 5 {
				i, val, digits = 6, 0, 0
				continue
			}
			zone, hasZone = b[j:], true
			break scan
		}
		if !ok || !validDigits(i, digits) {
			return time.Time{}, false
		}
		seg[i] = val
		i, val, digits = i+1, 0, 0
	}
	if !hasZone {
		if !validDigits(i, digits) {
			return time.Time{}, false
		}
		seg[i] = val
	}
	for ; fracDigits < 6; fracDigits++ {
		seg[6] *= 10
	}
	year, month, day, hour, minute, sec := seg[0], seg[1], seg[2], seg[3], seg[4], seg[5]
	if year > 9999 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	local := time.Date(year, time.Month(month), day, hour, minute, sec, seg[6]*1000, time.UTC)
	if !hasZone {
		return local, true
	}
	z, ok := parseZone(trimControl(zone))
	if !ok {
		return time.Time{}, false
	}
	if z.loc == nil {
		return local.Add(-time.Duration(z.offset) * time.Second), true
	}
	return inRegion(local, z.loc), true
}

// validDigits is Spark's isValidDigits: 4–6 digits of year, a fraction of any
// length, 1–2 digits for the other segments.
func validDigits(segment, digits int) bool {
	switch segment {
	case 0:
		return digits >= 4 && digits <= 6
	case 6:
		return true
	default:
		return digits >= 1 && digits <= 2
	}
}

// trimControl drops the bytes Spark trims around a timestamp and Java's
// String.trim around a zone: ASCII control bytes, space and DEL.
func trimControl(s string) string {
	isTrim := func(c byte) bool { return c <= ' ' || c == 0x7f }
	for len(s) > 0 && isTrim(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isTrim(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// FormatTimestamp writes t as the parse outputs it.
func FormatTimestamp(t time.Time) string {
	var buf [40]byte
	return string(t.UTC().AppendFormat(buf[:0], layoutOut))
}

// isCanonical reports whether s is already in the output form, so that
// FormatTimestamp(ParseTimestamp(s)) == s and the parse can be skipped:
// YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z with a real date and time, and a fraction
// without a trailing zero. It is how producers write event times, so most
// records take this path.
func isCanonical(s string) bool {
	n := len(s)
	if n < 20 || n > 27 || n == 21 || s[n-1] != 'Z' {
		return false
	}
	// One pass over the date and time: year, month, day, hour, minute, second.
	var v [6]int
	f := 0
	for i := 0; i < len(canonicalShape); i++ {
		c := s[i]
		if sep := canonicalShape[i]; sep != 'd' {
			if c != sep {
				return false
			}
			f++
			continue
		}
		if c-'0' > 9 {
			return false
		}
		v[f] = v[f]*10 + int(c-'0')
	}
	if frac := s[19 : n-1]; frac != "" {
		if frac[0] != '.' || frac[len(frac)-1] == '0' || !allDigits(frac[1:]) {
			return false
		}
	}
	return v[1] >= 1 && v[1] <= 12 && v[2] >= 1 && v[2] <= daysIn(v[1], v[0]) &&
		v[3] <= 23 && v[4] <= 59 && v[5] <= 59
}

// canonicalShape is the output form's date and time: 'd' a digit, any other
// byte itself.
const canonicalShape = "dddd-dd-ddTdd:dd:dd"

// canonicalize appends s to dst in the output form when s differs from it
// only in its fraction: more than 6 digits (truncated, as FormatTimestamp
// does) or trailing zeros (dropped). 2026-03-14T08:58:43.120Z, as the seed's
// producer writes with its fixed 3 digits, gives 2026-03-14T08:58:43.12Z
// without a parse. ok false: not of that form; the full parse decides.
func canonicalize(dst, s []byte) (out []byte, ok bool) {
	n := len(s)
	if n < 22 || n > 30 || s[19] != '.' || s[n-1] != 'Z' || !allDigits(string(s[20:n-1])) {
		return dst, false
	}
	frac := s[20 : n-1]
	frac = frac[:min(len(frac), 6)]
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	out = append(dst, s[:19]...)
	if len(frac) > 0 {
		out = append(append(out, '.'), frac...)
	}
	out = append(out, 'Z')
	return out, isCanonical(string(out))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
