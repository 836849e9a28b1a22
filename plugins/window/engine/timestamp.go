package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrNullTimestamp is returned for a null or missing event time.
var ErrNullTimestamp = errors.New("event time is null or missing")

// isoLayouts are the ISO-8601 shapes accepted for string timestamps. time.Parse
// accepts a fractional second after "05" even when the layout omits it.
var isoLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05Z07",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// TimeToMicros converts a time to epoch microseconds, truncating sub-µs digits
// (Spark truncates fraction digits beyond 6; it does not round).
func TimeToMicros(t time.Time) int64 {
	us := t.Unix()*1_000_000 + int64(t.Nanosecond()/1000)
	return us
}

// ParseTimestamp turns the value a timestamp query produced into epoch µs.
// Accepted: time.Time; an ISO-8601/RFC 3339 string (no zone = UTC); a unix
// number in seconds (fractions allowed). Anything else is an error that says
// what was found.
func ParseTimestamp(v any) (int64, error) {
	switch t := v.(type) {
	case nil:
		return 0, ErrNullTimestamp
	case time.Time:
		return TimeToMicros(t), nil
	case string:
		return parseTimestampString(t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return secondsToMicros(i)
		}
		f, err := t.Float64()
		if err != nil {
			return 0, fmt.Errorf("event time %q is not a number", t.String())
		}
		return floatSecondsToMicros(f)
	case int64:
		return secondsToMicros(t)
	case int:
		return secondsToMicros(int64(t))
	case int32:
		return secondsToMicros(int64(t))
	case uint64:
		if t > math.MaxInt64 {
			return 0, fmt.Errorf("event time %d is out of range", t)
		}
		return secondsToMicros(int64(t))
	case float64:
		return floatSecondsToMicros(t)
	case float32:
		return floatSecondsToMicros(float64(t))
	default:
		return 0, fmt.Errorf("event time of type %T is not a timestamp, an ISO-8601 string or a unix number", v)
	}
}

const maxSeconds = math.MaxInt64 / 1_000_000

func secondsToMicros(s int64) (int64, error) {
	if s > maxSeconds || s < -maxSeconds {
		return 0, fmt.Errorf("event time %d s is out of range", s)
	}
	return s * 1_000_000, nil
}

func floatSecondsToMicros(f float64) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f > maxSeconds || f < -maxSeconds {
		return 0, fmt.Errorf("event time %v s is not a finite unix time", f)
	}
	// Floor, so that -0.5 s lands in the microsecond below zero.
	return int64(math.Floor(f * 1e6)), nil
}

func parseTimestampString(s string) (int64, error) {
	str := strings.TrimSpace(s)
	if str == "" {
		return 0, fmt.Errorf("event time %q is empty", s)
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, str); err == nil {
			return TimeToMicros(t), nil
		}
	}
	// A numeric string is taken as unix seconds, like system_window.
	if f, err := strconv.ParseFloat(str, 64); err == nil {
		return floatSecondsToMicros(f)
	}
	return 0, fmt.Errorf("event time %q is not ISO-8601 (e.g. 2025-03-14T12:07:00.123Z) nor a unix number", s)
}
