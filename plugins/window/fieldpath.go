package window

import (
	"encoding/json"
	"strings"
)

// fieldPath is a query of the form this.a.b: it is read straight from the
// message's parsed JSON instead of running a Bloblang executor, which costs
// a new message part per query. nil means the query is not a plain path.
type fieldPath []string

// parseFieldPath recognises this.<name>(.<name>)* with names made of ASCII
// letters, digits and '_' (not starting with a digit: Bloblang would index an
// array). Anything else (quoted names, methods, arithmetic, comments) is
// left to Bloblang.
func parseFieldPath(q string) fieldPath {
	q = strings.TrimSpace(q)
	rest, ok := strings.CutPrefix(q, "this.")
	if !ok {
		return nil
	}
	names := strings.Split(rest, ".")
	for _, n := range names {
		if !isPlainName(n) {
			return nil
		}
	}
	return names
}

func isPlainName(n string) bool {
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// lookup reads the path from a parsed document with Bloblang's rules: a
// missing name or a step through null, a scalar or an array gives null. ok
// is false for a value of a Go type JSON decoding never yields (a plugin may
// have set it as structured content); the caller then asks Bloblang.
func (fp fieldPath) lookup(root any) (v any, ok bool) {
	v = root
	for _, name := range fp {
		switch t := v.(type) {
		case map[string]any:
			v = t[name]
		case nil, []any, string, bool, json.Number, float64, int64, int, uint64:
			return nil, true
		default:
			return nil, false
		}
	}
	return v, true
}
