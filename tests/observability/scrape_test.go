package observability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape returns the exposed families, or nil while the server is not up.
func scrape(url string) map[string]*dto.MetricFamily {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil
	}
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := (&p).TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	return fams
}

// sum of a counter or gauge family over its series whose labels include match.
func sum(fams map[string]*dto.MetricFamily, name string, match ...string) float64 {
	var total float64
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			ok = ok && labels[match[i]] == match[i+1]
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// waitFor scrapes until cond holds; the pipeline is asynchronous (input
// batching period 1s, Delta batching period 5s), so this polls a condition,
// it does not wait for time to pass.
func waitFor(t *testing.T, j *job, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last map[string]*dto.MetricFamily
	for time.Now().Before(deadline) {
		if j.exited() {
			t.Fatalf("the job stopped while waiting for %s; logs:\n%s", what, nonProgress(j.logs.String()))
		}
		if fams := scrape(j.scrapeURL); fams != nil {
			last = fams
			if cond(fams) {
				return fams
			}
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not a wait for time to pass
	}
	var names []string
	for n := range last {
		if !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
			names = append(names, fmt.Sprintf("%s=%v", n, sum(last, n)))
		}
	}
	t.Fatalf("timed out waiting for %s; last scrape: %v\nlogs:\n%s", what, names, nonProgress(j.logs.String()))
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// progressEvent extracts a progress event from a log line: a bare JSON event
// (progress_output stdout/stderr) or a JSON log record whose message is one.
func progressEvent(line string) map[string]any {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return nil
	}
	if _, ok := m["runId"]; ok {
		return m
	}
	for _, k := range []string{"msg", "message"} {
		if s, ok := m[k].(string); ok && strings.HasPrefix(s, "{") {
			var ev map[string]any
			if json.Unmarshal([]byte(s), &ev) == nil {
				if _, ok := ev["runId"]; ok {
					return ev
				}
			}
		}
	}
	return nil
}

func nonProgress(logs string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if progressEvent(l) == nil {
			out = append(out, l)
		}
	}
	return tail(strings.Join(out, "\n"), 40)
}
