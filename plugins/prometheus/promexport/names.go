package promexport

import "strings"

// MetricName turns a Benthos metric name into a legal Prometheus metric name
// ([a-zA-Z_:][a-zA-Z0-9_:]*). Benthos names can come from a user's `metric`
// processor or a `metrics.mapping`, so dots, dashes and spaces do occur.
func MetricName(name string) string {
	return sanitize(name, true)
}

// LabelName turns a label key into a legal Prometheus label name
// ([a-zA-Z_][a-zA-Z0-9_]*). Names starting with "__" are reserved by
// Prometheus, so the leading underscores are collapsed to one.
func LabelName(name string) string {
	s := sanitize(name, false)
	for strings.HasPrefix(s, "__") {
		s = s[1:]
	}
	return s
}

// TimerName is the exported name of a Benthos timer. Benthos timers are in
// nanoseconds and usually end in "_ns"; we export seconds (the Prometheus base
// unit), so "_ns" becomes "_seconds" and a name without a unit gains one.
func TimerName(name string) string {
	s := MetricName(name)
	s = strings.TrimSuffix(s, "_ns")
	if !strings.HasSuffix(s, "_seconds") {
		s += "_seconds"
	}
	return s
}

func sanitize(name string, allowColon bool) string {
	if name == "" {
		return "_"
	}
	var b strings.Builder
	b.Grow(len(name) + 1)
	for i, r := range name {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
			(r >= '0' && r <= '9') || (allowColon && r == ':')
		if i == 0 && r >= '0' && r <= '9' {
			b.WriteByte('_')
		}
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
