package observability

import (
	"bytes"
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

// yamlDocs splits a multi-document YAML file.
func yamlDocs(t *testing.T, rel string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(read(t, rel)))
	var out []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("%s: %v", rel, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestKubernetesManifests(t *testing.T) {
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(read(t, "deploy/kubernetes/kustomization.yaml"), &kust); err != nil {
		t.Fatal(err)
	}
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join(root, "deploy/kubernetes", r)); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}

	dep := yamlDocs(t, "deploy/kubernetes/deployment.yaml")[0]
	pod := dig(dep, "spec", "template")
	ctr := dig(pod, "spec", "containers", 0)
	rides := string(read(t, "config/rides.yaml"))
	secretRefs := map[string]string{}
	for _, e := range dig(ctr, "env").([]any) {
		name := dig(e, "name").(string)
		if ref := dig(e, "valueFrom", "secretKeyRef", "name"); ref != nil {
			secretRefs[name] = ref.(string)
		}
		if name != "GOMEMLIMIT" && !strings.Contains(rides, "${"+name+":") && !strings.Contains(rides, "${"+name+"}") {
			t.Errorf("deployment sets %s, which config/rides.yaml does not read", name)
		}
	}
	for _, v := range []string{"KAFKA_USER", "KAFKA_PASS"} {
		if secretRefs[v] == "" {
			t.Errorf("%s must come from a Secret (secretKeyRef), not a literal", v)
		}
	}
	port := dig(ctr, "ports", 0, "containerPort")
	if ann := dig(pod, "metadata", "annotations", "prometheus.io/port"); ann != "4195" || port != 4195 {
		t.Errorf("scrape annotation port %v, container port %v: want 4195 (http.address of rides.yaml)", ann, port)
	}
	if p := dig(ctr, "readinessProbe", "httpGet", "path"); p != "/ready" {
		t.Errorf("readiness probe on %v, want /ready", p)
	}
	if dig(dep, "spec", "replicas") != 1 || dig(dep, "spec", "strategy", "type") != "Recreate" {
		t.Error("the window checkpoint allows one live instance: replicas 1, strategy Recreate")
	}
	var cm string
	for _, v := range dig(pod, "spec", "volumes").([]any) {
		if n := dig(v, "configMap", "name"); n != nil {
			cm = n.(string)
		}
	}

	svc := yamlDocs(t, "deploy/kubernetes/service.yaml")[0]
	if dig(svc, "metadata", "name") != "rides-connect" {
		t.Error("the Service must be named rides-connect: it becomes the job label the alerts select")
	}
	if dig(svc, "spec", "ports", 0, "name") != dig(ctr, "ports", 0, "name") {
		t.Error("Service port name differs from the container port name")
	}
	sm := yamlDocs(t, "deploy/kubernetes/servicemonitor.yaml")[0]
	for k, v := range dig(sm, "spec", "selector", "matchLabels").(map[string]any) {
		if dig(svc, "metadata", "labels", k) != v {
			t.Errorf("ServiceMonitor selects %s=%v, which the Service does not carry", k, v)
		}
	}
	if dig(sm, "spec", "endpoints", 0, "port") != dig(svc, "spec", "ports", 0, "name") {
		t.Error("ServiceMonitor endpoint port is not the Service port name")
	}

	// Generated copies (deploy/kubernetes/sync-config.sh) must match their sources.
	cmDoc := yamlDocs(t, "deploy/kubernetes/configmap.yaml")[0]
	if dig(cmDoc, "metadata", "name") != cm {
		t.Errorf("deployment mounts ConfigMap %q, configmap.yaml defines %v", cm, dig(cmDoc, "metadata", "name"))
	}
	if got := dig(cmDoc, "data", "rides.yaml"); got != rides {
		t.Error("deploy/kubernetes/configmap.yaml is out of date with config/rides.yaml: run deploy/kubernetes/sync-config.sh")
	}
	var pr struct {
		Spec ruleFile `yaml:"spec"`
	}
	if err := yaml.Unmarshal(read(t, "deploy/kubernetes/prometheusrule.yaml"), &pr); err != nil {
		t.Fatal(err)
	}
	want, _ := yaml.Marshal(loadRules(t))
	got, _ := yaml.Marshal(pr.Spec)
	if !bytes.Equal(got, want) {
		t.Error("deploy/kubernetes/prometheusrule.yaml is out of date with deploy/prometheus/alerts.yml: run deploy/kubernetes/sync-config.sh")
	}
}

// The compose override wires Prometheus to the job and Grafana to the files
// under deploy/.
func TestComposeOverride(t *testing.T) {
	var base, over struct {
		Services map[string]struct {
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &base); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(read(t, "deploy/compose.observability.yml"), &over); err != nil {
		t.Fatal(err)
	}
	// prometheus.yml scrapes rides:4195.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(read(t, "deploy/prometheus/prometheus.yml"), &prom); err != nil {
		t.Fatal(err)
	}
	target := prom.ScrapeConfigs[0].StaticConfigs[0].Targets[0]
	svc, port, _ := strings.Cut(target, ":")
	if prom.ScrapeConfigs[0].JobName != "rides-connect" {
		t.Errorf("first scrape job %q, want rides-connect (the alerts select it)", prom.ScrapeConfigs[0].JobName)
	}
	if s, ok := base.Services[svc]; !ok || !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
		t.Errorf("prometheus.yml scrapes %s, but docker-compose.yml has no service %q publishing %s", target, svc, port)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := over.Services[name]
		if !ok {
			t.Fatalf("override has no %s service", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	}
}
