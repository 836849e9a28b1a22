package promexport

import (
	"regexp"
	"testing"
)

var (
	legalMetric = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	legalLabel  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func TestMetricName(t *testing.T) {
	cases := map[string]string{
		"input_received":          "input_received",
		"input.received":          "input_received",
		"my-metric name":          "my_metric_name",
		"9lives":                  "_9lives",
		"ns:rule_total":           "ns:rule_total",
		"":                        "_",
		"température_moyenne":     "temp_rature_moyenne",
		"kafka_input_lag":         "kafka_input_lag",
		"window_watermark_ms":     "window_watermark_ms",
		"rides/processed\"quoted": "rides_processed_quoted",
	}
	for in, want := range cases {
		got := MetricName(in)
		if got != want {
			t.Errorf("MetricName(%q) = %q, want %q", in, got, want)
		}
		if !legalMetric.MatchString(got) {
			t.Errorf("MetricName(%q) = %q is not a legal metric name", in, got)
		}
	}
}

func TestLabelName(t *testing.T) {
	cases := map[string]string{
		"path":       "path",
		"topic.name": "topic_name",
		"__name__":   "_name__",
		"a:b":        "a_b",
		"0partition": "_0partition",
		"":           "_",
	}
	for in, want := range cases {
		got := LabelName(in)
		if got != want {
			t.Errorf("LabelName(%q) = %q, want %q", in, got, want)
		}
		if !legalLabel.MatchString(got) {
			t.Errorf("LabelName(%q) = %q is not a legal label name", in, got)
		}
	}
}

func TestTimerName(t *testing.T) {
	cases := map[string]string{
		"delta_commit_latency_ns": "delta_commit_latency_seconds",
		"input_latency_ns":        "input_latency_seconds",
		"custom_timer":            "custom_timer_seconds",
		"already_seconds":         "already_seconds",
		"dotted.latency_ns":       "dotted_latency_seconds",
	}
	for in, want := range cases {
		if got := TimerName(in); got != want {
			t.Errorf("TimerName(%q) = %q, want %q", in, got, want)
		}
	}
}
