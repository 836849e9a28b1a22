package typed

import (
	"strings"
	"time"
)

// The forms Spark's to_timestamp accepts that config/rides.yaml has always
// taken, tried in the same order as its Bloblang mapping (so that every input
// gives the same instant): RFC 3339 as is; then trimmed, with ' ' between date
// and time read as 'T'; then the same without a zone, which means UTC (the
// session zone of the seed job). A fraction of any length is read.
const (
	layoutZone   = time.RFC3339          // 2006-01-02T15:04:05Z07:00
	layoutNoZone = "2006-01-02T15:04:05" // no zone: UTC
	// layoutOut is the output: UTC, fraction truncated to µs, trailing zeros
	// dropped (2026-03-14T08:58:43.498Z), which the window reads on its fast path.
	layoutOut = "2006-01-02T15:04:05.999999Z"
)

// ParseTimestamp reads s in one of the accepted forms.
func ParseTimestamp(s string) (time.Time, bool) {
	if t, err := time.Parse(layoutZone, s); err == nil {
		return t, true
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "T")
	if t, err := time.Parse(layoutZone, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(layoutNoZone, s); err == nil {
		return t, true
	}
	return time.Time{}, false
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
	if len(s) < 20 || len(s) > 27 || len(s) == 21 || s[len(s)-1] != 'Z' ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	if frac := s[19 : len(s)-1]; frac != "" {
		if frac[0] != '.' || frac[len(frac)-1] == '0' || !allDigits(frac[1:]) {
			return false
		}
	}
	if !allDigits(s[0:4]) || !allDigits(s[5:7]) || !allDigits(s[8:10]) || !allDigits(s[11:13]) || !allDigits(s[14:16]) || !allDigits(s[17:19]) {
		return false
	}
	year := num(s[0:4])
	month, day := num(s[5:7]), num(s[8:10])
	return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(month, year) &&
		num(s[11:13]) <= 23 && num(s[14:16]) <= 59 && num(s[17:19]) <= 59
}

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

func num(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
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
