package observability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// root is the repository root, from this package's directory.
const root = "../.."

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Datasource json.RawMessage `json:"datasource"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(read(t, "deploy/grafana/dashboards/rides-connect.json"), &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var r ruleFile
	if err := yaml.Unmarshal(read(t, "deploy/prometheus/alerts.yml"), &r); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return r
}

var reLabelValues = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// referencedMetrics maps every metric family the dashboard and the alert
// rules use to where it is used.
func referencedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	refs := map[string][]string{}
	add := func(expr, where string) {
		for _, n := range metricNames(expr) {
			f := familyName(n)
			if !slices.Contains(refs[f], where) {
				refs[f] = append(refs[f], where)
			}
		}
	}
	d := loadDashboard(t)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			add(tg.Expr, "dashboard: "+p.Title)
		}
	}
	for _, v := range d.Templating.List {
		for _, m := range reLabelValues.FindAllStringSubmatch(v.Definition, -1) {
			refs[m[1]] = append(refs[m[1]], "dashboard variable $"+v.Name)
		}
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			add(r.Expr, "alert "+r.Alert)
		}
	}
	return refs
}

// documented returns the exported names of docs/metrics.md (timers, listed
// with their Benthos _ns name, are exported as _seconds).
func documented(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	re := regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\| (counter|gauge|timer) \\|")
	for _, m := range re.FindAllStringSubmatch(string(read(t, "docs/metrics.md")), -1) {
		name := m[1]
		if m[2] == "timer" {
			name = strings.TrimSuffix(name, "_ns") + "_seconds"
		}
		out[name] = true
	}
	if len(out) < 30 {
		t.Fatalf("parsed only %d metrics from docs/metrics.md; has its table format changed?", len(out))
	}
	return out
}

// Names that are not ours: Benthos built-ins, client_golang runtime
// collectors, and Prometheus' own up series.
func builtin(name string) bool {
	for _, p := range []string{"input_", "processor_", "output_", "cache_", "go_", "process_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return name == "up"
}

func TestDashboardAndAlertsUseDocumentedNames(t *testing.T) {
	docs := documented(t)
	refs := referencedMetrics(t)
	for _, want := range []string{"input_received", "kafka_input_lag", "window_watermark_ms", "delta_commit_failures_total", "go_cpu_classes_gc_total_cpu_seconds_total"} {
		if _, ok := refs[want]; !ok {
			t.Errorf("%s is not referenced: the extractor or the files lost it", want)
		}
	}
	for name, where := range refs {
		if !builtin(name) && !docs[name] {
			t.Errorf("%s (used by %v) is not in docs/metrics.md", name, where)
		}
	}
}

func TestDashboardWellFormed(t *testing.T) {
	d := loadDashboard(t)
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(read(t, "deploy/grafana/provisioning/datasources/prometheus.yml"), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("provisioned datasources: %+v", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	if d.UID == "" {
		t.Error("dashboard has no uid (provisioned dashboards need a stable one)")
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != uid || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q (want %q) with %d queries", p.Title, p.Datasource.UID, uid, len(p.Targets))
		}
		for _, tg := range p.Targets {
			queries++
			if tg.Datasource.UID != uid || strings.TrimSpace(tg.Expr) == "" || len(metricNames(tg.Expr)) == 0 {
				t.Errorf("panel %q: query %q on datasource %q selects nothing", p.Title, tg.Expr, tg.Datasource.UID)
			}
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
				t.Errorf("panel %q: unbalanced query %q", p.Title, tg.Expr)
			}
		}
	}
	if queries < 30 {
		t.Errorf("only %d queries in the dashboard", queries)
	}

	var prov struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(read(t, "deploy/grafana/provisioning/dashboards/rides-connect.yml"), &prov); err != nil {
		t.Fatal(err)
	}
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path == "" {
		t.Errorf("dashboard provider: %+v", prov.Providers)
	}
}

func TestAlertRulesComplete(t *testing.T) {
	var names []string
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a severity label, a summary and a description", r.Alert)
			}
			if !strings.Contains(r.Expr, `job="rides-connect"`) {
				t.Errorf("%s: does not select job=\"rides-connect\"", r.Alert)
			}
		}
	}
	// The alerts the issue asks for.
	for _, want := range []string{"RidesNoData", "RidesConsumerLagGrowing", "RidesWatermarkStalled", "RidesGcTimeHigh", "RidesPartitionsPaused", "RidesDeltaCommitsFailing"} {
		if !slices.Contains(names, want) {
			t.Errorf("alert %s missing", want)
		}
	}
	// Every alert has a promtool unit test.
	tests := string(read(t, "deploy/prometheus/alerts_test.yml"))
	for _, n := range names {
		if !strings.Contains(tests, "alertname: "+n+"\n") {
			t.Errorf("alert %s has no case in alerts_test.yml", n)
		}
	}
}
