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
