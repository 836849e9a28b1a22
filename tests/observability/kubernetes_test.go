package observability

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

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
	// The scaled-out job's config (deploy/kubernetes-scaleout), once it exists.
	scaleOut, err := os.ReadFile(filepath.Join(root, "config/rides-scaleout.yaml"))
	if got := dig(cmDoc, "data", "rides-scaleout.yaml"); (err == nil && got != string(scaleOut)) || (err != nil && got != nil) {
		t.Error("deploy/kubernetes/configmap.yaml is out of date with config/rides-scaleout.yaml: run deploy/kubernetes/sync-config.sh")
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

// The compose stack wires Prometheus to the job and Grafana to the files
// under deploy/.
func TestComposeMonitoring(t *testing.T) {
	var base struct {
		Services map[string]struct {
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &base); err != nil {
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
		s, ok := base.Services[name]
		if !ok {
			t.Fatalf("docker-compose.yml has no %s service", name)
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
