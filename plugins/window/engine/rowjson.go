package engine

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RowJSON renders emitted rows (OutRow.JSON) with the field names quoted
// once and the window bounds formatted once per window: a window with many
// keys emits as many rows, and rendering each from scratch (the key parsed
// by encoding/json, every name and bound encoded again) was a large part
// of emitting them. Not safe for concurrent use (it caches the last bounds).
type RowJSON struct {
	groups, aggs []string // `"name":` of each group key and aggregate
	start, end   int64
	bounds       string // `"window_start":"…","window_end":"…"` of start/end
	parts        []string
}

// NewRowJSON returns a renderer for rows of groupNames and aggs.
func NewRowJSON(groupNames []string, aggs []AggSpec) *RowJSON {
	w := &RowJSON{start: -1, end: -1}
	for _, n := range groupNames {
		w.groups = append(w.groups, string(jsonString(n))+":")
	}
	for _, a := range aggs {
		w.aggs = append(w.aggs, string(jsonString(a.Name))+":")
	}
	return w
}

// Append appends r's JSON object to dst: group keys by name, aggregates by
// name, window_start and window_end.
func (w *RowJSON) Append(dst []byte, r *OutRow) ([]byte, error) {
	keys, ok := keyParts(r.Key, w.parts[:0])
	if !ok {
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(r.Key), &raw); err != nil {
			return nil, fmt.Errorf("corrupt group key %q: %w", r.Key, err)
		}
		keys = keys[:0]
		for _, k := range raw {
			keys = append(keys, string(k))
		}
	}
	w.parts = keys
	if r.StartUs != w.start || r.EndUs != w.end || w.bounds == "" {
		w.start, w.end = r.StartUs, r.EndUs
		w.bounds = `"window_start":` + string(jsonString(FormatTime(r.StartUs))) +
			`,"window_end":` + string(jsonString(FormatTime(r.EndUs)))
	}
	if dst == nil { // one allocation: names, key, values, bounds and punctuation
		n := 2 + len(w.bounds) + len(r.Key)
		for _, name := range w.groups {
			n += len(name) + 1
		}
		for i, name := range w.aggs {
			n += len(name) + len(r.Values[i]) + 1
		}
		dst = make([]byte, 0, n)
	}
	dst = append(dst, '{')
	for i, name := range w.groups {
		if i < len(keys) {
			dst = append(append(append(dst, name...), keys[i]...), ',')
		}
	}
	for i, name := range w.aggs {
		dst = append(append(append(dst, name...), r.Values[i]...), ',')
	}
	return append(append(dst, w.bounds...), '}'), nil
}

// keyParts splits a group key, EncodeKey's JSON array, into the JSON texts
// of its elements (appended to into); ok is false when key is not an array
// whose brackets, braces and strings balance.
func keyParts(key string, into []string) ([]string, bool) {
	if len(key) < 2 || key[0] != '[' || key[len(key)-1] != ']' {
		return into, false
	}
	body := key[1 : len(key)-1]
	if strings.TrimSpace(body) == "" {
		return into, true
	}
	depth, inStr, esc, from := 0, false, false, 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			if depth--; depth < 0 {
				return into, false
			}
		case c == ',' && depth == 0:
			into = append(into, strings.TrimSpace(body[from:i]))
			from = i + 1
		}
	}
	if inStr || depth != 0 {
		return into, false
	}
	return append(into, strings.TrimSpace(body[from:])), true
}
