package delta

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Row is one record aligned with a Schema: Row[i] is the value of column i,
// nil for null, in the column's internal Go type (see ConvertValue).
type Row []any

// RowError says why a record does not fit the schema; Column names the
// offending column.
type RowError struct {
	Column string
	Reason string
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return "schema mismatch: " + e.Reason
	}
	return fmt.Sprintf("schema mismatch: column %q: %s", e.Column, e.Reason)
}

// RowFromMap converts a decoded JSON object into a Row. Keys not in the
// schema are an error (they would be lost silently otherwise), unless
// ignoreUnknown.
func RowFromMap(s Schema, m map[string]any, ignoreUnknown bool) (Row, error) {
	row := make(Row, len(s.Fields))
	used := 0
	for i, f := range s.Fields {
		v, ok := m[f.Name]
		if !ok {
			// Accept a case-insensitive match, as Spark resolves columns.
			for k, kv := range m {
				if strings.EqualFold(k, f.Name) {
					v, ok = kv, true
					break
				}
			}
		}
		if ok {
			used++
		}
		if v == nil {
			if !f.Nullable {
				if !ok {
					return nil, &RowError{f.Name, "missing, and the column is not nullable"}
				}
				return nil, &RowError{f.Name, "null, and the column is not nullable"}
			}
			continue
		}
		cv, err := ConvertValue(f.Type, v)
		if err != nil {
			return nil, &RowError{f.Name, err.Error()}
		}
		row[i] = cv
	}
	if used < len(m) && !ignoreUnknown {
		for k := range m {
			if s.Index(k) < 0 {
				return nil, &RowError{k, "not in the table schema"}
			}
		}
	}
	return row, nil
}

// ConvertValue turns a JSON-decoded value into the internal type of t:
// string→string, long→int64, integer/short/byte→int32, double→float64,
// float→float32, boolean→bool, binary→[]byte (from base64), date→int32 days,
// timestamp→int64 µs UTC, decimal→*big.Int unscaled.
func ConvertValue(t Type, v any) (any, error) {
	switch t.Name {
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("want a string, got %s", describe(v))
	case "long", "integer", "short", "byte":
		n, err := toInt(v)
		if err != nil {
			return nil, err
		}
		lo, hi := intRange(t.Name)
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d out of range for %s", n, t.Name)
		}
		if t.Name == "long" {
			return n, nil
		}
		return int32(n), nil
	case "double", "float":
		f, err := toFloat(v)
		if err != nil {
			return nil, err
		}
		if t.Name == "float" {
			return float32(f), nil
		}
		return f, nil
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %s", describe(v))
	case "binary":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("want base64 text: %v", err)
			}
			return b, nil
		}
		return nil, fmt.Errorf("want base64 text, got %s", describe(v))
	case "date":
		tm, err := toTime(v)
		if err != nil {
			return nil, err
		}
		return int32(math.Floor(float64(tm.Unix()) / 86400)), nil
	case "timestamp":
		tm, err := toTime(v)
		if err != nil {
			return nil, err
		}
		return tm.UnixMicro(), nil
	case "decimal":
		return toDecimal(t, v)
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 40 {
		return fmt.Sprintf("a %T", v)
	}
	return fmt.Sprintf("%T %s", v, b)
}

func intRange(name string) (int64, int64) {
	switch name {
	case "integer":
		return math.MinInt32, math.MaxInt32
	case "short":
		return math.MinInt16, math.MaxInt16
	case "byte":
		return math.MinInt8, math.MaxInt8
	}
	return math.MinInt64, math.MaxInt64
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("want an integer, got %s", x)
		}
		return n, nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("want an integer, got %v", x)
		}
		return int64(x), nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d out of range", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("want an integer, got %s", describe(v))
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, fmt.Errorf("want a number, got %s", x)
		}
		return f, nil
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("want a number, got %s", describe(v))
}

// timeLayouts are accepted for date and timestamp text; zone-less text is UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, x); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("want RFC 3339, \"yyyy-MM-dd HH:mm:ss[.SSSSSS]\" (UTC) or \"yyyy-MM-dd\", got %q", x)
	default:
		// Numbers are epoch milliseconds (Benthos' timestamp_unix_milli()).
		n, err := toInt(v)
		if err != nil {
			return time.Time{}, fmt.Errorf("want a time string or epoch milliseconds, got %s", describe(v))
		}
		return time.UnixMilli(n).UTC(), nil
	}
}

func toDecimal(t Type, v any) (*big.Int, error) {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = string(x)
	case string:
		text = strings.TrimSpace(x)
	case float64:
		text = strconv.FormatFloat(x, 'f', -1, 64)
	case int, int64:
		text = fmt.Sprint(x)
	default:
		return nil, fmt.Errorf("want a decimal number, got %s", describe(v))
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, fmt.Errorf("want a decimal number, got %q", text)
	}
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(t.Scale)), nil)))
	if !scaled.IsInt() {
		return nil, fmt.Errorf("%s has more than %d decimal places", text, t.Scale)
	}
	u := scaled.Num()
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(t.Precision)), nil)
	if new(big.Int).Abs(u).Cmp(limit) >= 0 {
		return nil, fmt.Errorf("%s does not fit %s", text, t)
	}
	return u, nil
}

// FormatDecimal renders an unscaled decimal as text.
func FormatDecimal(u *big.Int, scale int) string {
	if scale == 0 {
		return u.String()
	}
	neg := u.Sign() < 0
	s := new(big.Int).Abs(u).String()
	for len(s) <= scale {
		s = "0" + s
	}
	s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}
