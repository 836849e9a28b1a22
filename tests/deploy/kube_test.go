package deploy

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/miaradia/rides-connect/internal/harness"
)

// strictDecoder decodes YAML into the registered Kubernetes types and fails on
// unknown or duplicate fields, as kubectl's server-side field validation does.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, monitoringv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
}

// manifests renders deploy/kubernetes with kustomize and decodes every object.
func manifests(t *testing.T) []runtime.Object { return manifestsOf(t, "deploy/kubernetes") }

// manifestsOf renders a kustomization (a directory of the repository) and
// decodes every object.
func manifestsOf(t *testing.T, dir string) []runtime.Object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	dec := strictDecoder(t)
	var out []runtime.Object
	invalid := false // not t.Failed(): a caller's earlier failure must not stop it here
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := dec.Decode(y, nil, nil)
		if err != nil {
			t.Errorf("%s %s: not a valid %s: %v", r.GetKind(), r.GetName(), r.GetKind(), err)
			invalid = true
			continue
		}
		out = append(out, obj)
	}
	if invalid {
		t.FailNow()
	}
	return out
}

// workload is a pod template of any workload kind.
type workload struct {
	name string
	pod  corev1.PodTemplateSpec
	long bool // a long-running server (not a Job or CronJob)
}

func workloads(objs []runtime.Object) []workload {
	var out []workload
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{"Deployment/" + o.Name, o.Spec.Template, true})
		case *appsv1.StatefulSet:
			out = append(out, workload{"StatefulSet/" + o.Name, o.Spec.Template, true})
		case *appsv1.DaemonSet:
			out = append(out, workload{"DaemonSet/" + o.Name, o.Spec.Template, true})
		case *batchv1.Job:
			out = append(out, workload{"Job/" + o.Name, o.Spec.Template, false})
		case *batchv1.CronJob:
			out = append(out, workload{"CronJob/" + o.Name, o.Spec.JobTemplate.Spec.Template, false})
		}
	}
	return out
}

// gracePeriod is the shortest terminationGracePeriodSeconds of the
// long-running workloads (Kubernetes' default 30 s where unset).
func gracePeriod(t *testing.T) time.Duration {
	t.Helper()
	g := time.Duration(-1)
	for _, w := range workloads(manifests(t)) {
		if !w.long {
			continue
		}
		d := 30 * time.Second
		if p := w.pod.Spec.TerminationGracePeriodSeconds; p != nil {
			d = time.Duration(*p) * time.Second
		}
		if g < 0 || d < g {
			g = d
		}
	}
	if g < 0 {
		t.Fatal("no long-running workload in deploy/kubernetes")
	}
	return g
}

// decodeFile strictly decodes every document of a YAML file under deploy/kubernetes.
func decodeFile(t *testing.T, name string) []runtime.Object {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	return decodeBytes(t, name, b)
}

// decodeBytes strictly decodes every document of YAML read from name.
func decodeBytes(t *testing.T, name string, b []byte) []runtime.Object {
	t.Helper()
	dec := strictDecoder(t)
	var out []runtime.Object
	for _, doc := range strings.Split("\n"+string(b), "\n---") {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		obj, _, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, obj)
	}
	return out
}

// exampleSecrets: the Secrets secret.example.yaml documents (not applied by
// kustomize: users create them), decoded strictly too.
func exampleSecrets(t *testing.T) map[string]*corev1.Secret {
	t.Helper()
	out := map[string]*corev1.Secret{}
	for _, obj := range decodeFile(t, "secret.example.yaml") {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			t.Fatalf("secret.example.yaml holds a %T", obj)
		}
		out[s.Name] = s
	}
	return out
}

// TestKubernetesFilesOutsideKustomize: the files kubectl applies by hand (the
// Prometheus Operator's ServiceMonitor and PrometheusRule, the Secret example,
// the HPA example) decode strictly into their types, and the ServiceMonitor
// scrapes a rendered Service's named port on /metrics. KEDA's objects have no
// Go types here: TestKubernetesAutoscaling checks them against KEDA's CRDs.
func TestKubernetesFilesOutsideKustomize(t *testing.T) {
	var services []*corev1.Service
	for _, o := range manifests(t) {
		if s, ok := o.(*corev1.Service); ok {
			services = append(services, s)
		}
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy/kubernetes/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kust, err := os.ReadFile(filepath.Join(repoRoot, "deploy/kubernetes/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range files {
		name := filepath.Base(m)
		if name == "kustomization.yaml" || name == kedaFile || regexp.MustCompile(`(?m)^\s+- `+regexp.QuoteMeta(name)+`\s*$`).Match(kust) {
			continue
		}
		for _, obj := range decodeFile(t, name) {
			checked++
			sm, ok := obj.(*monitoringv1.ServiceMonitor)
			if !ok {
				continue
			}
			for _, ep := range sm.Spec.Endpoints {
				if ep.Path != "/metrics" {
					t.Errorf("ServiceMonitor %s scrapes %s, the job serves /metrics", sm.Name, ep.Path)
				}
				if !slices.ContainsFunc(services, func(s *corev1.Service) bool {
					return matches(sm.Spec.Selector.MatchLabels, s.Labels) && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port })
				}) {
					t.Errorf("ServiceMonitor %s: no rendered Service with labels %v names port %q", sm.Name, sm.Spec.Selector.MatchLabels, ep.Port)
				}
			}
		}
	}
	if checked < 5 {
		t.Errorf("decoded only %d objects outside the kustomization", checked)
	}
}

// kedaFile holds KEDA's ScaledObject and TriggerAuthentication, applied by
// hand where KEDA runs.
const kedaFile = "keda-scaledobject.yaml"

// Env the Go runtime reads, not the config.
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOGC": true, "GOMAXPROCS": true, "GODEBUG": true}

var reCredential = regexp.MustCompile(`(?i)(PASS|PASSWORD|SECRET|TOKEN|_USER$|ACCESS_KEY)`)

// TestKubernetesManifests: every object kustomize renders is a valid object of
// its Kubernetes type, and every container of every workload is deployable
// as the image and the config expect.
func TestKubernetesManifests(t *testing.T) { checkRendered(t, manifests(t)) }

// checkRendered checks rendered objects as TestKubernetesManifests says.
func checkRendered(t *testing.T, objs []runtime.Object) {
	t.Helper()
	secrets := exampleSecrets(t)
	configMaps := map[string]*corev1.ConfigMap{}
	var services []*corev1.Service
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			configMaps[o.Name] = o
		case *corev1.Service:
			services = append(services, o)
		}
	}
	ws := workloads(objs)
	if len(ws) == 0 {
		t.Fatal("no workload rendered")
	}
	img := ridesImage(t)
	for _, w := range ws {
		spec := w.pod.Spec
		if w.long && spec.TerminationGracePeriodSeconds == nil {
			t.Errorf("%s: no terminationGracePeriodSeconds (the drain on SIGTERM needs to be bounded on purpose)", w.name)
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
			if v.ConfigMap != nil && configMaps[v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %s uses ConfigMap %s, which is not rendered", w.name, v.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil {
				checkSecretVolume(t, w.name, v, secrets)
			}
		}
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			where := w.name + " container " + c.Name
			checkSecurity(t, where, spec.SecurityContext, c.SecurityContext, img.User)
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: needs cpu and memory requests and a memory limit, has %v", where, c.Resources)
			}
			if !strings.Contains(c.Image, "/") {
				t.Errorf("%s: image %q is the bare local name: kustomization images: did not rewrite it", where, c.Image)
			}
			// A container running a pipeline names its config with -c; a one-shot
			// CLI command (e.g. a maintenance CronJob) has none.
			config := ""
			if slices.Contains(append(slices.Clone(c.Command), c.Args...), "-c") {
				config = containerConfig(t, where, c, volumes, configMaps)
			} else if w.long {
				t.Errorf("%s: a long-running container with no -c config", where)
			}
			for _, mnt := range c.VolumeMounts {
				if _, ok := volumes[mnt.Name]; !ok {
					t.Errorf("%s: mounts volume %s, which the pod does not define", where, mnt.Name)
				}
			}
			checkEnv(t, where, c, config, secrets)
			if w.long {
				checkProbes(t, where, c, config)
			}
		}
		for _, s := range services {
			if matches(s.Spec.Selector, w.pod.Labels) {
				for _, p := range s.Spec.Ports {
					if p.TargetPort.Type == intstr.String && !slices.ContainsFunc(spec.Containers, func(c corev1.Container) bool {
						return slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.StrVal })
					}) {
						t.Errorf("Service %s targets port %q, which no container of %s names", s.Name, p.TargetPort.StrVal, w.name)
					}
				}
			}
		}
	}
	for _, s := range services {
		if !slices.ContainsFunc(ws, func(w workload) bool { return matches(s.Spec.Selector, w.pod.Labels) }) {
			t.Errorf("Service %s selects %v: no workload's pods carry those labels", s.Name, s.Spec.Selector)
		}
	}
}

func matches(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func checkSecretVolume(t *testing.T, where string, v corev1.Volume, secrets map[string]*corev1.Secret) {
	s := secrets[v.Secret.SecretName]
	if s == nil {
		t.Errorf("%s: volume %s uses Secret %s, which secret.example.yaml does not document", where, v.Name, v.Secret.SecretName)
		return
	}
	for _, it := range v.Secret.Items {
		if !secretHasKey(s, it.Key) {
			t.Errorf("%s: volume %s uses key %s of Secret %s, which secret.example.yaml does not document", where, v.Name, it.Key, s.Name)
		}
	}
}

// secretHasKey: in data, stringData, or named in the example's comment lines
// (binary keys such as a truststore are documented, not inlined).
func secretHasKey(s *corev1.Secret, key string) bool {
	if _, ok := s.StringData[key]; ok {
		return true
	}
	if _, ok := s.Data[key]; ok {
		return true
	}
	b, _ := os.ReadFile(filepath.Join(repoRoot, "deploy/kubernetes/secret.example.yaml"))
	return regexp.MustCompile(`(?m)^#\s+` + regexp.QuoteMeta(key) + `:`).Match(b)
}

// checkSecurity: non-root with an id the kubelet can verify (the image's USER
// is a name, so runAsNonRoot needs a numeric runAsUser), read-only root file
// system, no privilege escalation, every capability dropped.
func checkSecurity(t *testing.T, where string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext, imageUser string) {
	var nonRoot *bool
	var uid *int64
	if pod != nil {
		nonRoot, uid = pod.RunAsNonRoot, pod.RunAsUser
	}
	if c == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	if c.RunAsNonRoot != nil {
		nonRoot = c.RunAsNonRoot
	}
	if c.RunAsUser != nil {
		uid = c.RunAsUser
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	if _, err := strconv.Atoi(strings.Split(imageUser, ":")[0]); err != nil && (uid == nil || *uid == 0) {
		t.Errorf("%s: the image's USER %q is a name, so runAsNonRoot needs a non-zero runAsUser, got %v", where, imageUser, uid)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") || len(c.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", where)
	}
}

// containerConfig returns the config file the container runs (its -c
// argument), read from the ConfigMap mounted there.
func containerConfig(t *testing.T, where string, c corev1.Container, volumes map[string]corev1.Volume, cms map[string]*corev1.ConfigMap) string {
	args := append(slices.Clone(c.Command), c.Args...)
	i := slices.Index(args, "-c")
	if i < 0 || i+1 >= len(args) {
		t.Errorf("%s: args %q name no config (-c)", where, args)
		return ""
	}
	file := args[i+1]
	for _, m := range c.VolumeMounts {
		v := volumes[m.Name]
		if v.ConfigMap == nil || !strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		key := strings.TrimPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		for _, it := range v.ConfigMap.Items {
			if it.Path == key {
				key = it.Key
			}
		}
		if cm := cms[v.ConfigMap.Name]; cm != nil {
			if data, ok := cm.Data[key]; ok {
				return data
			}
		}
		t.Errorf("%s: %s is not a key of ConfigMap %s", where, key, v.ConfigMap.Name)
		return ""
	}
	// Not mounted: the copy baked into the image (Dockerfile COPY of config/).
	b, err := os.ReadFile(filepath.Join(repoRoot, "config", path.Base(file)))
	if err != nil || !strings.HasPrefix(file, "/etc/rides-connect/") {
		t.Errorf("%s: config %s is neither mounted from a ConfigMap nor baked into the image", where, file)
	}
	return string(b)
}

var reEnvRef = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(:[^}]*)?\}`)

// configEnv maps every ${VAR} or ${VAR:default} the config reads to its default.
func configEnv(config string) map[string]string {
	out := map[string]string{}
	for _, m := range reEnvRef.FindAllStringSubmatch(config, -1) {
		out[m[1]] = strings.TrimPrefix(m[2], ":")
	}
	return out
}

// checkEnv: every variable set is one the config reads (when the container
// runs a config), credentials come from
// Secrets, and each secretKeyRef names a Secret and key that are documented.
func checkEnv(t *testing.T, where string, c corev1.Container, config string, secrets map[string]*corev1.Secret) {
	reads := configEnv(config)
	for _, e := range c.Env {
		if _, ok := reads[e.Name]; config != "" && !ok && !runtimeEnv[e.Name] {
			t.Errorf("%s: sets %s, which its config does not read", where, e.Name)
		}
		if reCredential.MatchString(e.Name) && e.Value != "" {
			t.Errorf("%s: credential %s is a literal, not a secretKeyRef", where, e.Name)
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if s := secrets[ref.Name]; s == nil {
			t.Errorf("%s: %s from Secret %s, which secret.example.yaml does not document", where, e.Name, ref.Name)
		} else if !secretHasKey(s, ref.Key) {
			t.Errorf("%s: %s from key %s of Secret %s, which secret.example.yaml does not have", where, e.Name, ref.Key, ref.Name)
		}
	}
	for _, from := range c.EnvFrom {
		t.Errorf("%s: envFrom %v hides which variables are set; list them", where, from)
	}
}

// checkProbes: each HTTP probe targets a declared container port that is the
// port the config's HTTP server listens on, and a path that server serves:
// the binary is started with this config and each probe path is requested.
func checkProbes(t *testing.T, where string, c corev1.Container, config string) {
	var probes []*corev1.Probe
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if p != nil {
			probes = append(probes, p)
		}
	}
	if c.ReadinessProbe == nil || c.LivenessProbe == nil {
		t.Errorf("%s: needs a readiness and a liveness probe", where)
	}
	addr := configEnv(config)["HTTP_ADDRESS"]
	for _, e := range c.Env {
		if e.Name == "HTTP_ADDRESS" {
			addr = e.Value
		}
	}
	_, listenPort, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: HTTP address %q: %v", where, addr, err)
		return
	}
	var paths []string
	for _, p := range probes {
		if p.HTTPGet == nil {
			t.Errorf("%s: probe %+v is not an HTTP GET on the job's server", where, p.ProbeHandler)
			continue
		}
		port := p.HTTPGet.Port.String()
		for _, cp := range c.Ports {
			if cp.Name == port {
				port = strconv.Itoa(int(cp.ContainerPort))
			}
		}
		if port != listenPort {
			t.Errorf("%s: probe %s on port %s; the config listens on %s", where, p.HTTPGet.Path, p.HTTPGet.Port.String(), addr)
		}
		paths = append(paths, p.HTTPGet.Path)
	}
	served(t, where, config, paths)
}

// served starts the binary with config (brokers unreachable: /ready answers
// 503, which is a served path) and fails for any path that answers 404. The
// answers count only if our process still runs afterwards (on a shared
// machine another server may take the free port first: then it retries).
func served(t *testing.T, where, config string, paths []string) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		httpAddr, _ := harness.FreeAddr()
		deadBroker, _ := harness.FreeAddr()
		p, err := harness.Start(binary, []string{"-c", cfg}, []string{"HTTP_ADDRESS=" + httpAddr, "KAFKA_BOOTSTRAP=" + deadBroker,
			"OUT_DELTA=" + filepath.Join(dir, "table"), "CHECKPOINT=" + filepath.Join(dir, "ckpt")}, filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		status, err := statuses(p, httpAddr, paths)
		_ = p.Stop(10 * time.Second)
		if err != nil {
			log, _ := os.ReadFile(p.Log)
			t.Logf("%s: attempt %d: %v\n%s", where, attempt, err, log)
			continue
		}
		for i, path := range paths {
			if status[i] == http.StatusNotFound {
				t.Errorf("%s: probe path %s answers 404", where, path)
			}
		}
		return
	}
	t.Fatalf("%s: could not query the job's HTTP server", where)
}

// statuses returns the HTTP status of each path, once the server answers.
func statuses(p *harness.Process, addr string, paths []string) ([]int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		if p.Exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("no HTTP server on %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond) // poll until the listener is up, bounded by the deadline
	}
	// Benthos serves /ping before the stream has registered its endpoints
	// (/ready): a path counts as unserved once it still answers 404 10 s later.
	var out []int
	for _, path := range paths {
		until := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || time.Now().After(until) {
				out = append(out, resp.StatusCode)
				break
			}
			time.Sleep(100 * time.Millisecond) // poll while the stream starts, bounded by until
		}
	}
	if p.Exited() {
		return nil, fmt.Errorf("the job exited: the answers on %s came from another server", addr)
	}
	return out, nil
}
