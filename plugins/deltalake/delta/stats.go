package delta

import (
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultStatsColumns is delta.dataSkippingNumIndexedCols' default.
const DefaultStatsColumns = 32

// statsStringPrefix is how many characters of a string Spark keeps in
// min/max (spark.databricks.io.skipping.stringPrefixLength).
const statsStringPrefix = 32

// FileStats is add.stats (PROTOCOL.md "Per-file Statistics").
type FileStats struct {
	NumRecords int64          `json:"numRecords"`
	MinValues  map[string]any `json:"minValues"`
	MaxValues  map[string]any `json:"maxValues"`
	NullCount  map[string]any `json:"nullCount"`
}

// JSON renders the stats string stored in add.stats.
func (fs *FileStats) JSON() string {
	b, _ := json.Marshal(fs)
	return string(b)
}

type colStats struct {
	idx       int
	field     Field
	min, max  any
	nulls     int64
	noMinMax  bool // boolean/binary, or NaN/Inf seen
	hasValues bool
}

type statsCollector struct {
	n    int64
	cols []*colStats
}

func newStatsCollector(s Schema, partitionCols []string, sc StatsColumns) *statsCollector {
	limit := sc.Num
	if limit < 0 || len(sc.Names) > 0 {
		limit = len(s.Fields)
	}
	c := &statsCollector{}
	for i, f := range s.Fields {
		if containsFold(partitionCols, f.Name) || (len(sc.Names) > 0 && !containsFold(sc.Names, f.Name)) {
			continue
		}
		if len(c.cols) >= limit {
			break
		}
		c.cols = append(c.cols, &colStats{idx: i, field: f, noMinMax: f.Type.Name == "boolean" || f.Type.Name == "binary"})
	}
	return c
}

func (c *statsCollector) add(r Row) {
	c.n++
	for _, cs := range c.cols {
		v := r[cs.idx]
		if v == nil {
			cs.nulls++
			continue
		}
		if cs.noMinMax {
			continue
		}
		if f, ok := asFloat(v); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			// JSON cannot carry NaN/Inf and a bound that ignores them would
			// be wrong: leave this column without min/max.
			cs.noMinMax = true
			continue
		}
		if !cs.hasValues {
			cs.min, cs.max, cs.hasValues = v, v, true
			continue
		}
		if less(v, cs.min) {
			cs.min = v
		}
		if less(cs.max, v) {
			cs.max = v
		}
	}
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}

func less(a, b any) bool {
	switch x := a.(type) {
	case string:
		return x < b.(string)
	case int64:
		return x < b.(int64)
	case int32:
		return x < b.(int32)
	case float64:
		return x < b.(float64)
	case float32:
		return x < b.(float32)
	case *big.Int:
		return x.Cmp(b.(*big.Int)) < 0
	}
	return false
}

func (c *statsCollector) result() *FileStats {
	fs := &FileStats{NumRecords: c.n, MinValues: map[string]any{}, MaxValues: map[string]any{}, NullCount: map[string]any{}}
	for _, cs := range c.cols {
		fs.NullCount[cs.field.Name] = cs.nulls
		if cs.noMinMax || !cs.hasValues {
			continue
		}
		fs.MinValues[cs.field.Name] = statValue(cs.field.Type, cs.min, false)
		fs.MaxValues[cs.field.Name] = statValue(cs.field.Type, cs.max, true)
	}
	return fs
}

// statValue renders a bound: timestamps as UTC with exactly three fractional
// digits (truncated to ms), dates as yyyy-MM-dd, decimals as exact numbers,
// long strings truncated like Spark (max gets a U+10FFFF tie-breaker so it
// stays an upper bound).
func statValue(t Type, v any, isMax bool) any {
	switch t.Name {
	case "timestamp":
		us := v.(int64)
		ms := us / 1000
		if us < 0 && us%1000 != 0 {
			ms-- // floor, not toward zero
		}
		return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
	case "date":
		return time.Unix(int64(v.(int32))*86400, 0).UTC().Format("2006-01-02")
	case "decimal":
		return json.Number(FormatDecimal(v.(*big.Int), t.Scale))
	case "string":
		s := v.(string)
		if utf8.RuneCountInString(s) <= statsStringPrefix {
			return s
		}
		var b strings.Builder
		n := 0
		for _, r := range s {
			if n == statsStringPrefix {
				break
			}
			b.WriteRune(r)
			n++
		}
		if isMax {
			b.WriteRune(utf8.MaxRune)
		}
		return b.String()
	}
	return v
}
