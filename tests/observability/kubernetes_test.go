package observability

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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

// TestKubernetesManifests: deploy/kubernetes runs the silver job
// (config/rides.yaml) as a StatefulSet of 3 replicas whose pod names are their
// KAFKA_INSTANCE_IDs, with stage 1's CHECKPOINT and the table on S3 (shared),
// a headless Service naming the pods, a PodDisruptionBudget of one, scraped
// through the Service the alerts' job label names; the files applied by hand
// are left out of the kustomization; the generated copies match their sources.
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
	// Objects of CRDs a cluster may lack (KEDA, the Prometheus Operator) and the
	// examples are applied by hand, or kubectl apply -k would fail on them.
	for _, f := range []string{"keda-scaledobject.yaml", "hpa-external-metric.example.yaml", "servicemonitor.yaml", "prometheusrule.yaml", "secret.example.yaml"} {
		if slices.Contains(kust.Resources, f) {
			t.Errorf("kustomization.yaml applies %s, which is applied by hand", f)
		}
		if _, err := os.Stat(filepath.Join(root, "deploy/kubernetes", f)); err != nil {
			t.Errorf("deploy/kubernetes/%s: %v", f, err)
		}
	}
	if !slices.Contains(kust.Resources, "statefulset.yaml") {
		t.Error("kustomization.yaml does not apply statefulset.yaml, the silver job")
	}

	sts := yamlDocs(t, "deploy/kubernetes/statefulset.yaml")[0]
	if dig(sts, "kind") != "StatefulSet" || dig(sts, "metadata", "name") != "rides-connect" {
		t.Fatalf("statefulset.yaml holds %v %v, want StatefulSet rides-connect", dig(sts, "kind"), dig(sts, "metadata", "name"))
	}
	pod := dig(sts, "spec", "template")
	ctr := dig(pod, "spec", "containers", 0)
	if args := strings.Join(toStrings(dig(ctr, "args")), " "); args != "-c /etc/rides-connect/rides.yaml" {
		t.Errorf("silver container args %q, want -c /etc/rides-connect/rides.yaml", args)
	}
	rides := string(read(t, "config/rides.yaml"))
	secretRefs := map[string]string{}
	env := map[string]any{}
	for _, e := range dig(ctr, "env").([]any) {
		name := dig(e, "name").(string)
		env[name] = e
		if ref := dig(e, "valueFrom", "secretKeyRef", "name"); ref != nil {
			secretRefs[name] = ref.(string)
		}
		if name != "GOMEMLIMIT" && !strings.Contains(rides, "${"+name+":") && !strings.Contains(rides, "${"+name+"}") {
			t.Errorf("the StatefulSet sets %s, which config/rides.yaml does not read", name)
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
	// N replicas: started together, each its own static member and stage-2
	// transactional id (the pod name), all on one checkpoint store and table.
	if dig(sts, "spec", "replicas") != 3 || dig(sts, "spec", "podManagementPolicy") != "Parallel" {
		t.Errorf("replicas %v, podManagementPolicy %v: want 3 replicas started in parallel", dig(sts, "spec", "replicas"), dig(sts, "spec", "podManagementPolicy"))
	}
	if f := dig(env["KAFKA_INSTANCE_ID"], "valueFrom", "fieldRef", "fieldPath"); f != "metadata.name" {
		t.Errorf("KAFKA_INSTANCE_ID from %v, want the pod name (fieldRef metadata.name): distinct per replica, stable across its restarts", f)
	}
	for _, v := range []string{"CHECKPOINT", "OUT_DELTA"} {
		if u, _ := dig(env[v], "value").(string); !strings.HasPrefix(u, "s3://") && !strings.HasPrefix(u, "s3a://") {
			t.Errorf("%s=%q: every replica must share it (an S3 URL)", v, u)
		}
	}
	var cm string
	for _, v := range dig(pod, "spec", "volumes").([]any) {
		if n := dig(v, "configMap", "name"); n != nil {
			cm = n.(string)
		}
	}
	labels := dig(pod, "metadata", "labels").(map[string]any)
	selects := func(sel any) bool {
		m, _ := sel.(map[string]any)
		for k, v := range m {
			if labels[k] != v {
				return false
			}
		}
		return len(m) > 0
	}
	pods := yamlDocs(t, "deploy/kubernetes/service-pods.yaml")[0]
	if dig(pods, "metadata", "name") != dig(sts, "spec", "serviceName") || dig(pods, "spec", "clusterIP") != "None" || !selects(dig(pods, "spec", "selector")) {
		t.Errorf("serviceName %v: service-pods.yaml must be that headless Service (clusterIP None) selecting the pods", dig(sts, "spec", "serviceName"))
	}
	pdb := yamlDocs(t, "deploy/kubernetes/poddisruptionbudget.yaml")[0]
	if dig(pdb, "spec", "maxUnavailable") != 1 || !selects(dig(pdb, "spec", "selector", "matchLabels")) {
		t.Error("poddisruptionbudget.yaml: maxUnavailable 1 over the silver job's pods")
	}

	svc := yamlDocs(t, "deploy/kubernetes/service.yaml")[0]
	if dig(svc, "metadata", "name") != "rides-connect" {
		t.Error("the Service must be named rides-connect: it becomes the job label the alerts select")
	}
	if !selects(dig(svc, "spec", "selector")) {
		t.Error("the rides-connect Service does not select the silver job's pods")
	}
	if dig(svc, "spec", "ports", 0, "name") != dig(ctr, "ports", 0, "name") {
		t.Error("Service port name differs from the container port name")
	}
	sm := yamlDocs(t, "deploy/kubernetes/servicemonitor.yaml")[0]
	for k, v := range dig(sm, "spec", "selector", "matchLabels").(map[string]any) {
		if dig(svc, "metadata", "labels", k) != v {
			t.Errorf("ServiceMonitor selects %s=%v, which the Service does not carry", k, v)
		}
		if dig(pods, "metadata", "labels", k) == v {
			t.Errorf("ServiceMonitor selects %s=%v, which the headless Service carries too: each pod would be scraped twice", k, v)
		}
	}
	if dig(sm, "spec", "endpoints", 0, "port") != dig(svc, "spec", "ports", 0, "name") {
		t.Error("ServiceMonitor endpoint port is not the Service port name")
	}

	// Generated copies (deploy/kubernetes/sync-config.sh) must match their sources:
	// every config a pod may run (the ConfigMap hides the image's copies).
	cmDoc := yamlDocs(t, "deploy/kubernetes/configmap.yaml")[0]
	if dig(cmDoc, "metadata", "name") != cm {
		t.Errorf("the StatefulSet mounts ConfigMap %q, configmap.yaml defines %v", cm, dig(cmDoc, "metadata", "name"))
	}
	for _, f := range []string{"rides.yaml", "rides-scaleout.yaml", "rides-single.yaml"} {
		if got := dig(cmDoc, "data", f); got != string(read(t, "config/"+f)) {
			t.Errorf("deploy/kubernetes/configmap.yaml is out of date with config/%s: run deploy/kubernetes/sync-config.sh", f)
		}
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

// The compose stack wires Prometheus to every replica of the rides job and
// Grafana to the files under deploy/.
func TestComposeMonitoring(t *testing.T) {
	var base struct {
		Services map[string]struct {
			Command     []string       `yaml:"command"`
			Environment map[string]any `yaml:"environment"`
			Ports       []string       `yaml:"ports"`
			Volumes     []string       `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &base); err != nil {
		t.Fatal(err)
	}
	// prometheus.yml discovers the rides replicas by DNS: the compose network
	// answers a service's name with every container of it (docker compose up
	// --scale rides=N), so each replica is a target of its own.
	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(read(t, "deploy/prometheus/prometheus.yml"), &prom); err != nil {
		t.Fatal(err)
	}
	if len(prom.ScrapeConfigs) == 0 || prom.ScrapeConfigs[0].JobName != "rides-connect" {
		t.Fatal("the first scrape job must be rides-connect (the alerts select it)")
	}
	job := prom.ScrapeConfigs[0]
	if len(job.StaticConfigs) > 0 || len(job.DNSSDConfigs) != 1 || job.DNSSDConfigs[0].Type != "A" || len(job.DNSSDConfigs[0].Names) != 1 {
		t.Fatalf("scrape job rides-connect: want one DNS discovery of type A of one service (every replica), got %+v", job)
	}
	sd := job.DNSSDConfigs[0]
	svc, ok := base.Services[sd.Names[0]]
	if !ok || !slices.Contains(svc.Command, "/etc/rides-connect/rides.yaml") {
		t.Fatalf("prometheus.yml discovers %q, which is no docker-compose.yml service running /etc/rides-connect/rides.yaml", sd.Names[0])
	}
	// The port each replica listens on: HTTP_ADDRESS as the service sets it, or rides.yaml's default.
	addr := ""
	if m := regexp.MustCompile(`\$\{HTTP_ADDRESS:([^}]*)\}`).FindStringSubmatch(string(read(t, "config/rides.yaml"))); m != nil {
		addr = m[1]
	}
	if v, ok := svc.Environment["HTTP_ADDRESS"].(string); ok {
		addr = v
	}
	if !strings.HasSuffix(addr, fmt.Sprintf(":%d", sd.Port)) {
		t.Errorf("prometheus.yml scrapes port %d of the %s replicas, which listen on %q", sd.Port, sd.Names[0], addr)
	}
	// Scalable: no fixed host port (a second replica could not bind it), no
	// fixed KAFKA_INSTANCE_ID (two live members with one id fence each other).
	for _, p := range svc.Ports {
		// [ip:]host:container; an empty host port is one Docker picks per container.
		if parts := strings.Split(p, ":"); len(parts) >= 2 && parts[len(parts)-2] != "" && !strings.Contains(parts[len(parts)-2], "-") {
			t.Errorf("%s publishes %q: a fixed host port lets one replica start", sd.Names[0], p)
		}
	}
	if v, ok := svc.Environment["KAFKA_INSTANCE_ID"].(string); ok && v != "" {
		t.Errorf("%s sets KAFKA_INSTANCE_ID=%q for every replica: leave it unset (each container's host name)", sd.Names[0], v)
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
