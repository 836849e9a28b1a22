package observability

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// promServer is a real Prometheus (Debian's, installed by check.sh) scraping
// the job every second and evaluating deploy/prometheus/alerts.yml. Opt-in:
// RIDES_OBS_PROMETHEUS=1.
type promServer struct {
	api string
}

func startPrometheus(t *testing.T, scrapeURL string) *promServer {
	t.Helper()
	if os.Getenv("RIDES_OBS_PROMETHEUS") != "1" {
		return nil
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("RIDES_OBS_PROMETHEUS=1 but no prometheus binary: run tests/observability/check.sh (installs Debian's prometheus): %v", err)
	}
	target, err := url.Parse(scrapeURL)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(root, "deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [%q]
scrape_configs:
  - job_name: rides-connect
    metrics_path: %s
    static_configs: [ { targets: [%q] } ]
`, rules, target.Path, target.Host)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // our child only, by PID
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	p := &promServer{api: "http://" + addr + "/api/v1/"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s:\n%s", tail(logs.String(), 20))
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

func (p *promServer) get(t *testing.T, path string, params url.Values, out any) {
	t.Helper()
	resp, err := http.Get(p.api + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if env.Status != "success" {
		t.Fatalf("%s %v: %s", path, params, env.Error)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatal(err)
	}
}

func (p *promServer) query(t *testing.T, expr string) int {
	t.Helper()
	var data struct {
		Result []json.RawMessage `json:"result"`
	}
	p.get(t, "query", url.Values{"query": {expr}}, &data)
	return len(data.Result)
}

// check runs every dashboard query through the real PromQL engine and
// requires data wherever the job exposes the metrics the query uses, then
// requires every alert rule to evaluate without error.
func (p *promServer) check(t *testing.T, exposedNow map[string]*dto.MetricFamily) {
	exposed := map[string]bool{}
	for n := range exposedNow {
		exposed[familyName(n)] = true
	}
	// Enough scrapes for rate() over 30s windows.
	deadline := time.Now().Add(30 * time.Second)
	for p.query(t, `count_over_time(up{job="rides-connect"}[1m]) >= 5`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("prometheus did not scrape the job 5 times in 30s")
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	scraped := time.Now() // rules evaluated after this saw the scraped data
	if p.query(t, `up{job="rides-connect"} == 1`) != 1 {
		t.Error("the job's target is not up")
	}
	d := loadDashboard(t)
	for _, panel := range d.Panels {
		for _, tg := range panel.Targets {
			expr := strings.NewReplacer("$__rate_interval", "30s", "$instance", ".*").Replace(tg.Expr)
			all := true
			for _, n := range metricNames(expr) {
				all = all && (exposed[familyName(n)] || n == "up")
			}
			if n := p.query(t, expr); n == 0 && all {
				t.Errorf("panel %q: %s returns nothing although its metrics are exposed", panel.Title, expr)
			}
		}
	}

	// Rules: all loaded, all evaluated without error.
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name           string `json:"name"`
				Health         string `json:"health"`
				LastError      string `json:"lastError"`
				State          string `json:"state"`
				LastEvaluation string `json:"lastEvaluation"`
			} `json:"rules"`
		} `json:"groups"`
	}
	want := 0
	for _, g := range loadRules(t).Groups {
		want += len(g.Rules)
	}
	// Each rule's state must come from an evaluation after the scrapes above
	// (one before them may have seen no watermark yet).
	deadline = time.Now().Add(30 * time.Second)
	for {
		p.get(t, "rules", url.Values{"type": {"alert"}}, &rules)
		evaluated := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if at, err := time.Parse(time.RFC3339Nano, r.LastEvaluation); err == nil && at.After(scraped) {
					evaluated++
				}
			}
		}
		if evaluated >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d alert rules evaluated in the 30 s after the job was scraped", evaluated, want)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	states := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			states[r.Name] = r.State
			if r.Health != "ok" {
				t.Errorf("alert %s: health %q: %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if len(states) != want {
		t.Errorf("prometheus loaded %d alert rules, want the %d of alerts.yml", len(states), want)
	}
	// The test's event time is three hours old: the watermark is far behind.
	if s := states["RidesWatermarkBehind"]; s != "pending" && s != "firing" {
		t.Errorf("RidesWatermarkBehind is %q with a watermark 3 hours old", s)
	}
	for name, s := range states {
		if name != "RidesWatermarkBehind" && s != "inactive" {
			t.Errorf("alert %s is %s in a healthy run", name, s)
		}
	}
}

// TestBinaryDefaultExporter: the rides-connect binary, given a config with no
// metrics section, serves the Prometheus format at /metrics (the exporter is
// named prometheus, so Benthos picks it by default). Opt-in with the binary
// tier: RIDES_OBS_BINARY=1.
func TestBinaryDefaultExporter(t *testing.T) {
	if os.Getenv("RIDES_OBS_BINARY") != "1" {
		t.Skip("builds the binary: set RIDES_OBS_BINARY=1 (tests/observability/check.sh does)")
	}
	conf := filepath.Join(t.TempDir(), "minimal.yaml")
	if err := os.WriteFile(conf, []byte(`http:
  address: ${HTTP_ADDRESS}
input:
  label: gen
  generate: { count: 0, interval: 10ms, mapping: 'root = "x"' }
output:
  drop: {}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	j := runBinary(t, buildBinary(t), nil, "-c", conf)
	defer j.stop()
	f := waitFor(t, j, "input_received from the default exporter", func(f map[string]*dto.MetricFamily) bool {
		return sum(f, "input_received", "label", "gen") > 0
	})
	if f["input_received"].GetType() != dto.MetricType_COUNTER || f["go_goroutines"] == nil {
		t.Errorf("default exporter output lacks Prometheus counters or runtime metrics")
	}
}
