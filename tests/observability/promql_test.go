package observability

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

var (
	reStrings  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	reBraces   = regexp.MustCompile(`\{[^{}]*\}`)
	reBrackets = regexp.MustCompile(`\[[^\[\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	reIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlWord = map[string]bool{
		"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true,
		"ignoring": true, "group_left": true, "group_right": true, "bool": true, "offset": true,
		"inf": true, "nan": true, "atan2": true,
	}
)

// metricNames returns the metric names a PromQL expression selects. It is a
// lexical pass, enough for the expressions we write: strings, label matchers,
// ranges and grouping clauses are removed, then every remaining identifier
// that is not a keyword, a function call or the unit of a number is a name.
func metricNames(expr string) []string {
	s := reStrings.ReplaceAllString(expr, `""`)
	s = reBraces.ReplaceAllString(s, " ")
	s = reBrackets.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		if promqlWord[strings.ToLower(word)] {
			continue
		}
		if loc[0] > 0 && (isDigit(s[loc[0]-1]) || s[loc[0]-1] == '.' || s[loc[0]-1] == '$') {
			continue // 10m, 1e3, 0.5e2, $var
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // function or aggregation
		}
		if !slices.Contains(out, word) {
			out = append(out, word)
		}
	}
	sort.Strings(out)
	return out
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// familyName maps a sample name to its family (histogram/summary parts).
func familyName(n string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if strings.HasSuffix(n, suf) {
			return strings.TrimSuffix(n, suf)
		}
	}
	return n
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`up{job="rides-connect"} == 0`: {"up"},
		`sum by (job, instance) (increase(input_received{job="rides-connect"}[10m])) == 0
		 and on (job, instance) max by (job, instance) (input_received{job="x"} offset 10m) >= 0`: {"input_received"},
		`histogram_quantile(0.99, sum by (le) (rate(delta_commit_latency_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`: {"delta_commit_latency_seconds_bucket"},
		`(time() - max by (job, instance) (window_watermark_ms{job="rides-connect"} > 0) / 1000) > 1800`:                             {"window_watermark_ms"},
		`sum(rate(go_cpu_classes_gc_total_cpu_seconds_total[5m])) / sum(rate(process_cpu_seconds_total[5m])) > 0.3 and on (job) x:recorded:rate5m > 1e3`: {
			"go_cpu_classes_gc_total_cpu_seconds_total", "process_cpu_seconds_total", "x:recorded:rate5m"},
		`sum by (label) (rate(cache_error{operation=~"set|add", label="by (x)"}[1m]))`: {"cache_error"},
		`max(delta(kafka_input_lag[10m:1m]))`:                                          {"kafka_input_lag"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}
