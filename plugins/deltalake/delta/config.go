package delta

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Table properties this writer reads from metaData.configuration.
const (
	PropCheckpointInterval     = "delta.checkpointInterval"
	PropDeletedFileRetention   = "delta.deletedFileRetentionDuration"
	PropNumIndexedCols         = "delta.dataSkippingNumIndexedCols"
	PropStatsColumns           = "delta.dataSkippingStatsColumns"
	PropAppendOnly             = "delta.appendOnly"
	DefaultCheckpointInterval  = 10
	defaultDeletedFileRetained = 7 * 24 * time.Hour
)

// ValidateProperties refuses a value of a property this writer honours that
// it would otherwise ignore for its default, silently, while the value itself
// went into the table's metadata for other engines to refuse.
func ValidateProperties(conf map[string]string) error {
	for _, k := range []string{PropCheckpointInterval, PropNumIndexedCols, PropDeletedFileRetention, PropAppendOnly} {
		v, ok := conf[k]
		if !ok {
			continue
		}
		var bad string
		switch k {
		case PropCheckpointInterval:
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
				bad = "a positive integer"
			}
		case PropNumIndexedCols:
			if n, err := strconv.Atoi(v); err != nil || n < -1 {
				bad = "an integer, -1 for all columns"
			}
		case PropDeletedFileRetention:
			if d, err := ParseInterval(v); err != nil || d < 0 {
				bad = `an interval such as "interval 7 days"`
			}
		case PropAppendOnly:
			if l := strings.ToLower(v); l != "true" && l != "false" {
				bad = "true or false"
			}
		}
		if bad != "" {
			return fmt.Errorf("%s %q: want %s", k, v, bad)
		}
	}
	return nil
}

func checkpointInterval(conf map[string]string) int64 {
	if n, err := strconv.ParseInt(conf[PropCheckpointInterval], 10, 64); err == nil && n > 0 {
		return n
	}
	return DefaultCheckpointInterval
}

// StatsColumns says which columns get min/max/nullCount: exactly Names if
// delta.dataSkippingStatsColumns is set, else the first Num (-1 = all).
type StatsColumns struct {
	Num   int
	Names []string
}

func statsColumns(conf map[string]string) StatsColumns {
	if v := strings.TrimSpace(conf[PropStatsColumns]); v != "" {
		var names []string
		for _, n := range strings.Split(v, ",") {
			names = append(names, strings.Trim(strings.TrimSpace(n), "`"))
		}
		return StatsColumns{Names: names}
	}
	if n, err := strconv.Atoi(conf[PropNumIndexedCols]); err == nil {
		return StatsColumns{Num: n}
	}
	return StatsColumns{Num: DefaultStatsColumns}
}

// deletedFileRetention parses Spark's "interval 1 week" form and Go durations.
func deletedFileRetention(conf map[string]string) time.Duration {
	v, ok := conf[PropDeletedFileRetention]
	if !ok {
		return defaultDeletedFileRetained
	}
	if d, err := ParseInterval(v); err == nil {
		return d
	}
	return defaultDeletedFileRetained
}

// ParseInterval accepts "interval 7 days", "7 days", "168 hours", "1 week"
// and Go durations ("168h").
func ParseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "interval"))
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, err
	}
	unit := map[string]time.Duration{
		"second": time.Second, "minute": time.Minute, "hour": time.Hour,
		"day": 24 * time.Hour, "week": 7 * 24 * time.Hour,
	}[strings.TrimSuffix(f[1], "s")]
	if unit == 0 {
		return 0, strconv.ErrSyntax
	}
	return time.Duration(n * float64(unit)), nil
}
