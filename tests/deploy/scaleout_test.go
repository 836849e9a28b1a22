package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// The base and the overlay of the silver job (docs/deploy.md).
const (
	baseDir     = "deploy/kubernetes"
	scaleOutDir = "deploy/kubernetes-scaleout"
)

// kedaVersion is the KEDA release whose CRDs and Kafka scaler the
// autoscaling files are checked against (check.sh downloads its module).
const kedaVersion = "v2.21.0"

// silverJob renders a kustomization and returns its objects and the silver
// job's StatefulSet; a Deployment of the same name (the one-replica job the
// base ran before) fails the test.
func silverJob(t *testing.T, dir string) ([]runtime.Object, *appsv1.StatefulSet) {
	t.Helper()
	objs := manifestsOf(t, dir)
	var sts *appsv1.StatefulSet
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.StatefulSet:
			if o.Name == "rides-connect" {
				sts = o
			}
		case *appsv1.Deployment:
			if o.Name == "rides-connect" {
				t.Errorf("%s still renders a Deployment %s beside the StatefulSet", dir, o.Name)
			}
		}
	}
	if sts == nil {
		t.Fatalf("%s renders no StatefulSet rides-connect", dir)
	}
	return objs, sts
}

func envOf(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// envValue is the literal value of a variable the container sets ("" when
// it does not set it, or not as a literal).
func envValue(c corev1.Container, name string) string {
	if e := envOf(c, name); e != nil {
		return e.Value
	}
	return ""
}

// reShared matches the store URLs every replica reaches: a local path or
// file:// would be each pod's own.
var reShared = regexp.MustCompile(`^s3a?://[^/]+/.+`)

// silverContainer renders dir, gives its silver StatefulSet the replica
// checks and returns its container, which must run config/<config>, with
// the rendered objects and the StatefulSet.
func silverContainer(t *testing.T, dir, config string) (corev1.Container, []runtime.Object, *appsv1.StatefulSet) {
	t.Helper()
	objs, sts := silverJob(t, dir)
	checkReplicas(t, dir, objs, sts)
	c := sts.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"-c", "/etc/rides-connect/" + config}) {
		t.Errorf("args %q do not run config/%s", c.Args, config)
	}
	return c, objs, sts
}

// TestKubernetesSilverJob: the base renders the silver job as 3 replicas of
// config/rides.yaml (the checks of checkReplicas), with stage 1's state
// (CHECKPOINT) and the table (OUT_DELTA) on S3, which every replica shares.
// TestKubernetesManifests gives its container every container check.
func TestKubernetesSilverJob(t *testing.T) {
	c, _, _ := silverContainer(t, baseDir, "rides.yaml")
	for _, name := range []string{"CHECKPOINT", "OUT_DELTA"} {
		if v := envValue(c, name); !reShared.MatchString(v) {
			t.Errorf("%s=%q: every replica must reach the same store (an s3:// or s3a:// URL)", name, v)
		}
	}
	if envValue(c, "CHECKPOINT") == "" || !strings.Contains(string(read(t, "config/rides.yaml")), "${CHECKPOINT:") {
		t.Error("config/rides.yaml keeps stage 1's state in CHECKPOINT: the StatefulSet must set it")
	}
	if envValue(c, "KAFKA_GROUP") == "" {
		t.Error("KAFKA_GROUP is not set: it names the groups, internal topics and autoscaling triggers")
	}
}

// TestKubernetesScaleOut: the overlay is the base's StatefulSet running
// config/rides-scaleout.yaml (every state in Kafka: no CHECKPOINT) under its
// own group and table, and nothing else changed: the same pod template once
// args and those variables are set aside, the same replica checks, and every
// container check of TestKubernetesManifests.
func TestKubernetesScaleOut(t *testing.T) {
	c, objs, sts := silverContainer(t, scaleOutDir, "rides-scaleout.yaml")
	if e := envOf(c, "CHECKPOINT"); e != nil {
		t.Errorf("sets CHECKPOINT=%q: config/rides-scaleout.yaml keeps every state in Kafka", e.Value)
	}
	if strings.Contains(string(read(t, "config/rides-scaleout.yaml")), "${CHECKPOINT") {
		t.Error("config/rides-scaleout.yaml reads CHECKPOINT: the overlay drops it, restate the overlay")
	}
	_, base := silverJob(t, baseDir)
	bc := base.Spec.Template.Spec.Containers[0]
	// Neither config can take over the other's group or table (stage 1's
	// state is kept elsewhere, both number their txns rides_agg-<q>).
	for _, name := range []string{"KAFKA_GROUP", "OUT_DELTA"} {
		if v := envValue(c, name); v == "" || v == envValue(bc, name) {
			t.Errorf("%s=%q, the base's is %q: the overlay's job needs its own", name, v, envValue(bc, name))
		}
	}
	if !reShared.MatchString(envValue(c, "OUT_DELTA")) {
		t.Errorf("OUT_DELTA=%q: every replica must reach the same table", envValue(c, "OUT_DELTA"))
	}
	// Apart from those, the base's pod template and StatefulSet spec.
	strip := func(s *appsv1.StatefulSet) *appsv1.StatefulSet {
		s = s.DeepCopy()
		ct := &s.Spec.Template.Spec.Containers[0]
		ct.Args = nil
		ct.Env = slices.DeleteFunc(ct.Env, func(e corev1.EnvVar) bool {
			return e.Name == "CHECKPOINT" || e.Name == "KAFKA_GROUP" || e.Name == "OUT_DELTA"
		})
		return s
	}
	if a, b := strip(sts), strip(base); !equality.Semantic.DeepEqual(a.Spec, b.Spec) {
		t.Errorf("the overlay changes more of the StatefulSet than args, CHECKPOINT, KAFKA_GROUP and OUT_DELTA:\n%s", lineDiff(t, b.Spec, a.Spec))
	}
	checkRendered(t, objs)
}

// checkReplicas: N replicas with stable, distinct identities, started in
// parallel, a PodDisruptionBudget of one, a headless Service, each pod
// scraped once under the job label the alerts select.
func checkReplicas(t *testing.T, dir string, objs []runtime.Object, sts *appsv1.StatefulSet) {
	t.Helper()
	spec := sts.Spec
	if spec.Replicas == nil || *spec.Replicas != 3 {
		n := "unset"
		if spec.Replicas != nil {
			n = strconv.Itoa(int(*spec.Replicas))
		}
		t.Errorf("%s: StatefulSet replicas %s, want 3", dir, n)
	}
	if spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("%s: podManagementPolicy %q: replicas do not depend on each other, start them in parallel", dir, spec.PodManagementPolicy)
	}
	pod := spec.Template
	c := pod.Spec.Containers[0]
	// The pod name is the instance id: static membership and the
	// transactional id, stable across restarts, distinct per replica.
	if e := envOf(c, "KAFKA_INSTANCE_ID"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("%s: KAFKA_INSTANCE_ID must be the pod name (fieldRef metadata.name), got %+v", dir, e)
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		t.Errorf("%s: terminationGracePeriodSeconds %v: the drain on SIGTERM (shutdown_timeout 20s) needs more", dir, g)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/ready" {
		t.Errorf("%s: readiness probe %+v, want GET /ready", dir, p)
	}
	if !strings.Contains(c.Image, "/") {
		t.Errorf("%s: image %q is the bare local name: images: did not rewrite it", dir, c.Image)
	}
	if len(spec.VolumeClaimTemplates) > 0 {
		t.Errorf("%s: volumeClaimTemplates: the state lives in Kafka, the shared checkpoint store and Delta, not on pod volumes", dir)
	}

	var services []*corev1.Service
	pdbs := 0
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			services = append(services, o)
		case *policyv1.PodDisruptionBudget:
			pdbs++
			sel := o.Spec.Selector
			if sel == nil || !matches(sel.MatchLabels, pod.Labels) || len(sel.MatchExpressions) > 0 {
				t.Errorf("%s: PodDisruptionBudget %s selects %v, not the StatefulSet's pods", dir, o.Name, sel)
			}
			if o.Spec.MaxUnavailable == nil || o.Spec.MaxUnavailable.IntValue() != 1 || o.Spec.MinAvailable != nil {
				t.Errorf("%s: PodDisruptionBudget %s: want maxUnavailable 1, got max %v min %v", dir, o.Name, o.Spec.MaxUnavailable, o.Spec.MinAvailable)
			}
			for _, w := range workloads(objs) {
				if sel != nil && w.name != "StatefulSet/"+sts.Name && matches(sel.MatchLabels, w.pod.Labels) {
					t.Errorf("%s: PodDisruptionBudget %s also covers %s", dir, o.Name, w.name)
				}
			}
		}
	}
	if pdbs != 1 {
		t.Errorf("%s: %d PodDisruptionBudgets, want 1", dir, pdbs)
	}
	// serviceName names a rendered headless Service of these pods.
	if !slices.ContainsFunc(services, func(s *corev1.Service) bool {
		return s.Name == spec.ServiceName && s.Spec.ClusterIP == corev1.ClusterIPNone && matches(s.Spec.Selector, pod.Labels)
	}) {
		t.Errorf("%s: serviceName %q is not a rendered headless Service selecting the pods", dir, spec.ServiceName)
	}
	// Scraped once, through the Service named rides-connect (the job label).
	var sm *monitoringv1.ServiceMonitor
	for _, o := range decodeFile(t, "servicemonitor.yaml") {
		sm, _ = o.(*monitoringv1.ServiceMonitor)
	}
	if sm == nil {
		t.Fatal("servicemonitor.yaml holds no ServiceMonitor")
	}
	var scraped []string
	for _, s := range services {
		if matches(sm.Spec.Selector.MatchLabels, s.Labels) && matches(s.Spec.Selector, pod.Labels) {
			scraped = append(scraped, s.Name)
		}
	}
	if !slices.Equal(scraped, []string{"rides-connect"}) {
		t.Errorf("%s: the ServiceMonitor scrapes the pods through %v, want exactly [rides-connect] (the job label the alerts select)", dir, scraped)
	}
}

// lineDiff lists the lines of a's YAML missing from b's (-) and b's missing
// from a's (+).
func lineDiff(t *testing.T, a, b any) string {
	t.Helper()
	ya, err := yamlMarshal(a)
	if err != nil {
		t.Fatal(err)
	}
	yb, err := yamlMarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	la, lb := strings.Split(string(ya), "\n"), strings.Split(string(yb), "\n")
	var out []string
	for _, l := range la {
		if !slices.Contains(lb, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range lb {
		if !slices.Contains(la, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kedaDir is KEDA's module source (CRDs, scalers).
func kedaDir(t *testing.T) string {
	t.Helper()
	return moduleDir(t, "KEDA_MODULE_DIR", "github.com/kedacore/keda/v2", kedaVersion, "config/crd/bases")
}

// moduleDir is the source of module@version: $env, or the module cache.
// Without its folder sub the test skips, or fails under DEPLOY_REQUIRE=1
// (check.sh downloads the module).
func moduleDir(t *testing.T, env, module, version, sub string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join(goModCache(), module+"@"+version)
	}
	if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
		if os.Getenv("DEPLOY_REQUIRE") == "1" {
			t.Fatalf("%s %s not found at %s (check.sh downloads it): %v", module, version, dir, err)
		}
		t.Skipf("%s %s not downloaded (go mod download %s@%s): %v", module, version, module, version, err)
	}
	return dir
}

func goModCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if d := os.Getenv("GOPATH"); d != "" {
		return filepath.Join(strings.Split(d, string(os.PathListSeparator))[0], "pkg/mod")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go/pkg/mod")
}

// kafkaScalerParams returns the parameter names KEDA's Kafka scaler reads
// from trigger metadata and from authentication (its `keda:"name=…"` tags).
func kafkaScalerParams(t *testing.T, dir string) (metadata, auth map[string]bool) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(dir, "pkg/scalers/kafka_scaler.go"))
	if err != nil {
		t.Fatal(err)
	}
	metadata, auth = map[string]bool{}, map[string]bool{}
	for _, m := range regexp.MustCompile(`keda:"name=([A-Za-z]+),\s*order=([a-zA-Z;]+)`).FindAllStringSubmatch(string(src), -1) {
		orders := strings.Split(m[2], ";")
		metadata[m[1]] = metadata[m[1]] || slices.Contains(orders, "triggerMetadata")
		auth[m[1]] = auth[m[1]] || slices.Contains(orders, "authParams")
	}
	if !metadata["lagThreshold"] || !auth["password"] {
		t.Fatalf("could not read the Kafka scaler's parameters from %s (format changed?)", dir)
	}
	return metadata, auth
}

// composePartitions is the partition count docker-compose.yml creates topic
// rides with (the seed's 6).
func composePartitions(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"--topic", "rides", "--partitions", "(\d+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("docker-compose.yml creates no topic rides with --partitions")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestKubernetesAutoscaling: the KEDA ScaledObject and TriggerAuthentication
// are valid against KEDA's own CRD schemas, scale the base's StatefulSet on
// the lag of both consumer groups config/rides.yaml runs, with parameters
// KEDA's Kafka scaler reads, credentials the documented Secrets hold, and no
// more replicas than partitions; the HPA alternative is a valid HPA with the
// same bounds on the lag of the same two topics. The overlay's subtest checks
// the same of both files with the substitution its kustomization.yaml tells
// users to apply, against the overlay's StatefulSet.
func TestKubernetesAutoscaling(t *testing.T) {
	dir := kedaDir(t)
	keda, hpa := read(t, baseDir+"/"+kedaFile), read(t, baseDir+"/hpa-external-metric.example.yaml")
	_, sts := silverJob(t, baseDir)
	checkAutoscaling(t, dir, keda, hpa, sts)

	t.Run("overlay", func(t *testing.T) {
		kust := string(read(t, scaleOutDir+"/kustomization.yaml"))
		m := regexp.MustCompile(`sed 's/([^/']+)/([^/']*)/g' (deploy/kubernetes/keda-scaledobject\.yaml) \| kubectl apply -n rides -f -`).FindStringSubmatch(kust)
		if m == nil {
			t.Fatalf("%s/kustomization.yaml says no `sed 's/<base group>/<its group>/g' deploy/kubernetes/keda-scaledobject.yaml | kubectl apply ...`", scaleOutDir)
		}
		from, to := regexp.MustCompile(m[1]), []byte(m[2])
		_, osts := silverJob(t, scaleOutDir)
		checkAutoscaling(t, dir, from.ReplaceAll(keda, to), from.ReplaceAll(hpa, to), osts)
	})
}

// checkAutoscaling checks a ScaledObject file and an HPA file against the
// StatefulSet they scale, as TestKubernetesAutoscaling says.
func checkAutoscaling(t *testing.T, dir string, keda, hpaFile []byte, sts *appsv1.StatefulSet) {
	t.Helper()
	c := sts.Spec.Template.Spec.Containers[0]
	env := func(name string) string {
		v := envValue(c, name)
		if v == "" {
			t.Fatalf("the StatefulSet sets no %s", name)
		}
		return v
	}
	group, topic, brokers := env("KAFKA_GROUP"), env("KAFKA_TOPIC"), env("KAFKA_BOOTSTRAP")
	partitions := composePartitions(t)
	secrets := exampleSecrets(t)

	metaParams, authParams := kafkaScalerParams(t, dir)
	docs, err := yamlDocs(keda)
	if err != nil {
		t.Fatal(err)
	}
	var so, ta map[string]any
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		crd := map[string]string{"ScaledObject": "keda.sh_scaledobjects.yaml", "TriggerAuthentication": "keda.sh_triggerauthentications.yaml"}[kind]
		if crd == "" || d["apiVersion"] != "keda.sh/v1alpha1" {
			t.Fatalf("keda-scaledobject.yaml: unexpected %v %v", d["apiVersion"], kind)
		}
		schema, err := loadCRDSchema(filepath.Join(dir, "config/crd/bases", crd), "v1alpha1")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range schema.validate(d) {
			t.Errorf("%s: %s", kind, e)
		}
		if kind == "ScaledObject" {
			so = d
		} else {
			ta = d
		}
	}
	if so == nil || ta == nil {
		t.Fatal("keda-scaledobject.yaml needs a ScaledObject and a TriggerAuthentication")
	}
	var obj struct {
		Spec struct {
			ScaleTargetRef                   struct{ APIVersion, Kind, Name string }
			MinReplicaCount, MaxReplicaCount *int
			Triggers                         []struct {
				Type, Name        string
				Metadata          map[string]string
				AuthenticationRef struct{ Name string }
			}
		}
	}
	var auth struct {
		Metadata struct{ Name string }
		Spec     struct {
			SecretTargetRef []struct{ Parameter, Name, Key string }
		}
	}
	roundTrip(t, so, &obj)
	roundTrip(t, ta, &auth)
	s := obj.Spec
	if s.ScaleTargetRef.Kind != "StatefulSet" || s.ScaleTargetRef.Name != sts.Name || s.ScaleTargetRef.APIVersion != "apps/v1" {
		t.Errorf("scaleTargetRef %+v, want apps/v1 StatefulSet %s", s.ScaleTargetRef, sts.Name)
	}
	// The CRD's CEL rule, which the schema walk does not evaluate.
	if s.MinReplicaCount == nil || s.MaxReplicaCount == nil || *s.MinReplicaCount < 1 || *s.MinReplicaCount > *s.MaxReplicaCount {
		t.Errorf("replica counts min %v max %v: want 1 <= min <= max (windows close only while a replica runs)", s.MinReplicaCount, s.MaxReplicaCount)
	}
	if s.MaxReplicaCount != nil && *s.MaxReplicaCount > partitions {
		t.Errorf("maxReplicaCount %d > %d partitions of %s: the extra replicas would own nothing", *s.MaxReplicaCount, partitions, topic)
	}
	want := map[string]string{group: topic, group + "-merge": group + "-repartition"}
	got := map[string]string{}
	for _, tr := range s.Triggers {
		if tr.Type != "kafka" {
			t.Errorf("trigger %s is %q, want kafka", tr.Name, tr.Type)
			continue
		}
		for k := range tr.Metadata {
			if !metaParams[k] {
				t.Errorf("trigger %s: metadata %s is not a parameter of KEDA %s's Kafka scaler", tr.Name, k, kedaVersion)
			}
		}
		got[tr.Metadata["consumerGroup"]] = tr.Metadata["topic"]
		if tr.Metadata["bootstrapServers"] != brokers {
			t.Errorf("trigger %s: bootstrapServers %q, the job's KAFKA_BOOTSTRAP is %q", tr.Name, tr.Metadata["bootstrapServers"], brokers)
		}
		if n, err := strconv.Atoi(tr.Metadata["lagThreshold"]); err != nil || n <= 0 {
			t.Errorf("trigger %s: lagThreshold %q is not a positive integer", tr.Name, tr.Metadata["lagThreshold"])
		}
		if tr.Metadata["allowIdleConsumers"] != "false" {
			t.Errorf("trigger %s: allowIdleConsumers must be false (no more replicas than partitions)", tr.Name)
		}
		if tr.AuthenticationRef.Name != auth.Metadata.Name {
			t.Errorf("trigger %s: authenticationRef %q, the file's TriggerAuthentication is %q", tr.Name, tr.AuthenticationRef.Name, auth.Metadata.Name)
		}
	}
	if len(got) != len(want) || got[group] != want[group] || got[group+"-merge"] != want[group+"-merge"] {
		t.Errorf("triggers watch %v (group: topic), want both stages %v", got, want)
	}
	for _, r := range auth.Spec.SecretTargetRef {
		if !authParams[r.Parameter] {
			t.Errorf("TriggerAuthentication: %s is not an authentication parameter of KEDA's Kafka scaler", r.Parameter)
		}
		if sec := secrets[r.Name]; sec == nil || !secretHasKey(sec, r.Key) {
			t.Errorf("TriggerAuthentication: %s from key %s of Secret %s, which secret.example.yaml does not document", r.Parameter, r.Key, r.Name)
		}
	}

	// The HPA alternative: a valid autoscaling/v2 HPA with the same bounds,
	// on the lag of the two topics the job reads.
	hpas := 0
	for _, o := range decodeBytes(t, "hpa-external-metric.example.yaml", hpaFile) {
		hpa, ok := o.(*autoscalingv2.HorizontalPodAutoscaler)
		if !ok {
			t.Fatalf("hpa-external-metric.example.yaml holds a %T", o)
		}
		if hpa.Spec.ScaleTargetRef.Kind != "StatefulSet" || hpa.Spec.ScaleTargetRef.Name != sts.Name {
			t.Errorf("HPA targets %+v, want StatefulSet %s", hpa.Spec.ScaleTargetRef, sts.Name)
		}
		if s.MaxReplicaCount != nil && int(hpa.Spec.MaxReplicas) != *s.MaxReplicaCount {
			t.Errorf("HPA maxReplicas %d, ScaledObject maxReplicaCount %d: keep the two alternatives alike", hpa.Spec.MaxReplicas, *s.MaxReplicaCount)
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 1 {
			t.Errorf("HPA minReplicas %v, want >= 1", hpa.Spec.MinReplicas)
		}
		var topics []string
		for _, m := range hpa.Spec.Metrics {
			if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil || m.External.Target.AverageValue == nil {
				t.Errorf("HPA metric %+v: want an External metric with an AverageValue target", m)
				continue
			}
			if sel := m.External.Metric.Selector; sel != nil {
				topics = append(topics, sel.MatchLabels["topic"])
			}
		}
		slices.Sort(topics)
		if want := []string{topic, group + "-repartition"}; !slices.Equal(topics, slices.Sorted(slices.Values(want))) {
			t.Errorf("HPA metrics select the lag of topics %q, want both stages' %q", topics, want)
		}
		hpas++
	}
	if hpas != 1 {
		t.Errorf("hpa-external-metric.example.yaml holds %d HPAs, want 1", hpas)
	}
}

func roundTrip(t *testing.T, in map[string]any, out any) {
	t.Helper()
	b, err := yamlMarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := yamlUnmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}
