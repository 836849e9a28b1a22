package lintrule

import (
	"fmt"
	"sort"
	"strings"
)

// Enum is an enum field a component rule checks in Go. Benthos lints an enum
// field (service.NewStringEnumField) with a Bloblang mapping of its options
// that it parses again at every occurrence of the field in every lint: for
// config/rides.yaml that was three quarters of its lint, about 20 ms of each
// start (docs/benchmarks.md, "Session 34"). A field built with
// enumfield.New has no such mapping; its component's rule checks it here
// instead, parsing nothing.
type Enum struct {
	// Path is the field's path in the component's config: dot-separated
	// names, a name ending in "[]" for each element of a list, "*" for every
	// value of a map ("sasl[].mechanism", "aggregates.*.op").
	Path string
	// Options are the accepted values, matched case-insensitively as
	// Benthos matches them.
	Options []string
}

// EnumsAt returns enums with prefix (a path ending in ".", or "") before each
// path: a field group shared by several components (TLS, SASL, S3) keeps its
// enums beside its fields.
func EnumsAt(prefix string, enums ...Enum) []Enum {
	out := make([]Enum, len(enums))
	for i, e := range enums {
		out[i] = Enum{Path: prefix + e.Path, Options: e.Options}
	}
	return out
}

// enumLints returns a message for each value in conf that is not one of its
// field's options, naming the field's concrete path.
func enumLints(conf any, enums []Enum) []any {
	var out []any
	for _, e := range enums {
		walkPath(conf, strings.Split(e.Path, "."), "", func(at string, v any) {
			if !isOption(v, e.Options) {
				out = append(out, fmt.Sprintf("%s: value %v is not one of %s", at, quoteValue(v), listOptions(e.Options)))
			}
		})
	}
	return out
}

// walkPath calls f with each value at path under v (absent values are left
// out: the field's default applies).
func walkPath(v any, path []string, at string, f func(at string, v any)) {
	if v == nil {
		return
	}
	if len(path) == 0 {
		f(at, v)
		return
	}
	join := func(seg string) string {
		if at == "" {
			return seg
		}
		return at + "." + seg
	}
	seg, rest := path[0], path[1:]
	obj, ok := v.(map[string]any)
	if !ok {
		return // not an object here: Benthos' own type lint reports it
	}
	if seg == "*" {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkPath(obj[k], rest, join(k), f)
		}
		return
	}
	if name, list := strings.CutSuffix(seg, "[]"); list {
		elems, _ := obj[name].([]any)
		for i, el := range elems {
			walkPath(el, rest, fmt.Sprintf("%s[%d]", join(name), i), f)
		}
		return
	}
	walkPath(obj[seg], rest, join(seg), f)
}

func isOption(v any, options []string) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	for _, o := range options {
		if strings.EqualFold(s, o) {
			return true
		}
	}
	return false
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v", v)
}

func listOptions(options []string) string {
	q := make([]string, len(options))
	for i, o := range options {
		q[i] = fmt.Sprintf("%q", o)
	}
	return strings.Join(q, ", ")
}
