package engine

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Emission is the set of rows one batch emitted. Seq numbers emissions 1, 2, 3…
// over the life of the state; a re-emission carries the original Seq and rows.
type Emission struct {
	Seq     int64           `json:"seq"`
	Rows    []OutRow        `json:"rows"`
	Trigger map[string]span `json:"trigger,omitempty"` // topic/partition → offsets of the emitting batch
}

// OutRow is one emitted (window, key) result.
type OutRow struct {
	StartUs int64             `json:"start_us"`
	EndUs   int64             `json:"end_us"`
	Key     string            `json:"key"`
	Values  []json.RawMessage `json:"values"` // one per aggregate, JSON
	// Seq is the row's own emission sequence (StageMerge: one per window);
	// 0 = the Emission's Seq.
	Seq int64 `json:"seq,omitempty"`
}

func (e *Engine) outRow(start int64, key string, g *group) OutRow {
	r := OutRow{StartUs: start, EndUs: start + e.sizeUs, Key: key, Values: make([]json.RawMessage, len(e.cfg.Aggregates))}
	for j, spec := range e.cfg.Aggregates {
		r.Values[j] = result(spec, g, &g.Aggs[j])
	}
	return r
}

// EncodeKey returns the canonical form of a group key: the JSON array of its
// values. Equal keys encode equally (maps are sorted by encoding/json).
func EncodeKey(values []any) (string, error) {
	cloned := false
	for i, v := range values {
		if n, ok := canonicalNumber(v); ok {
			if !cloned { // the caller's values stay as they are
				values, cloned = slices.Clone(values), true
			}
			values[i] = n
		}
	}
	b, err := json.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("group key is not JSON-encodable: %w", err)
	}
	return string(b), nil
}

// canonicalNumber returns a numeric group key in one form per value, so a
// group is its value, as in Spark where the column has one type: 5 and 5.0
// (json.Number keeps the producer's text) are one group, and so are -0.0
// and 0.0 (Spark's NormalizeFloatingNumbers). Integers written without a
// fraction or exponent stay exact, whatever their size. ok is false when v
// needs no change.
func canonicalNumber(v any) (any, bool) {
	switch t := v.(type) {
	case float64:
		if t == 0 && math.Signbit(t) {
			return 0.0, true
		}
	case float32:
		if t == 0 && math.Signbit(float64(t)) {
			return float32(0), true
		}
	case json.Number:
		s := string(t)
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil { // out of a double's range: kept as written
				return nil, false
			}
			if f == 0 {
				f = 0 // without the sign of -0
			}
			return f, true
		}
		if s != "0" && strings.Trim(s, "-0") == "" { // -0
			return json.Number("0"), true
		}
	}
	return nil, false
}

// WindowID is the stable identity of a (window, key): it does not change on
// re-emission or restart.
func (r *OutRow) WindowID() string {
	h := fnv.New64a()
	h.Write([]byte(r.Key))
	return fmt.Sprintf("%d-%d-%016x", r.StartUs/1000, r.EndUs/1000, h.Sum64())
}

// FormatTime renders epoch µs as RFC 3339 UTC with milliseconds.
func FormatTime(us int64) string {
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// JSON renders the row as the emitted message: group keys by name, aggregates
// by name, window_start and window_end. Names must be those of the Config.
func (r *OutRow) JSON(groupNames []string, aggs []AggSpec) ([]byte, error) {
	return NewRowJSON(groupNames, aggs).Append(nil, r)
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}
