package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The lag the test makes on a real broker, and the replicas KEDA's two Kafka
// triggers must ask for: ceil(lag / lagThreshold) each, the HPA taking the
// larger. With 3 replicas running, 4 is one step up, which the ScaledObject's
// scale-up policy (one pod per minute) allows at once.
const (
	clusterRidesLag = 1_050_000 // stage 1's group on rides: lagThreshold 300 000 -> 4 replicas
	clusterMergeLag = 50_000    // stage 2's group on the internal topic: lagThreshold 20 000 -> 3
	clusterReplicas = 3         // statefulset.yaml
)

// TestKubernetesOnAControlPlane installs deploy/kubernetes with the commands
// docs/deploy.md gives (kubectl apply -k, the Secrets of secret.example.yaml,
// keda-scaledobject.yaml) on a real control plane (etcd, kube-apiserver,
// kube-controller-manager v1.37, KEDA's operator and metrics adapter), its
// Kafka triggers pointed at a real broker over SASL_SSL with SCRAM-SHA-512,
// and checks what only a cluster does with them: the API server's validation
// and admission of every object (the overlay and the HPA example by server-side
// dry run), the StatefulSet controller's pods, the disruption controller's
// reading of the PodDisruptionBudget, KEDA's HPA, the lag KEDA reads from the
// broker served through the aggregation layer, and the HPA scaling the
// StatefulSet on it. Pods are not run (no kubelet); TestImageUnderRunc runs
// the image.
func TestKubernetesOnAControlPlane(t *testing.T) {
	bin := controlPlaneBin(t)
	checkControlPlaneKEDAVersion(t)
	kafka := startKafka(t, "")
	cp := startControlPlane(t, bin)
	cp.startKEDA(filepath.Join(kedaDir(t), "config/crd/bases"))

	// kubectl prints the API server's warnings (a pod template that the
	// namespace's Pod Security level would refuse, a deprecated field).
	if _, warnings, err := cp.runWithStderr(nil, "apply", "-k", "deploy/kubernetes"); err != nil || strings.Contains(warnings, "Warning") {
		t.Fatalf("kubectl apply -k deploy/kubernetes: %v\n%s", err, warnings)
	}
	cp.kubectl("-n", "rides", "create", "secret", "generic", "rides-connect-kafka",
		"--from-literal=KAFKA_USER="+kafka["KAFKA_USER"], "--from-literal=KAFKA_PASS="+kafka["KAFKA_PASS"])
	cp.kubectl("-n", "rides", "create", "secret", "generic", "rides-connect-truststore",
		"--from-file=truststore.jks="+kafka["KAFKA_TRUSTSTORE"],
		"--from-literal=password="+kafka["KAFKA_TRUSTSTORE_PASSWORD"], "--from-file=ca.pem="+kafka["KAFKA_CA_PEM"])
	// The alternatives, validated and admitted without being applied.
	cp.kubectl("apply", "-k", "deploy/kubernetes-scaleout", "--dry-run=server")
	cp.kubectl("apply", "-n", "rides", "-f", "deploy/kubernetes/hpa-external-metric.example.yaml", "--dry-run=server")
	scaledObject := pointTriggersAt(t, string(read(t, "deploy/kubernetes/keda-scaledobject.yaml")), kafka["KAFKA_SASL_SSL"])
	// The overlay's command (deploy/kubernetes-scaleout/kustomization.yaml).
	cp.apply(strings.ReplaceAll(scaledObject, "rides-connect-rides", "rides-connect-scaleout"), "-n", "rides", "--dry-run=server")

	// With the Prometheus Operator's CRDs, what kustomization.yaml says to apply by hand.
	promCRDs := filepath.Join(prometheusOperatorDir(t), "example/prometheus-operator-crd")
	cp.kubectl("apply", "--server-side", "-f", filepath.Join(promCRDs, "monitoring.coreos.com_servicemonitors.yaml"),
		"-f", filepath.Join(promCRDs, "monitoring.coreos.com_prometheusrules.yaml"))
	cp.kubectl("wait", "--for", "condition=established", "--timeout", "60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
	cp.kubectl("apply", "-n", "rides", "-f", "deploy/kubernetes/servicemonitor.yaml", "-f", "deploy/kubernetes/prometheusrule.yaml")

	checkStatefulSetPods(t, cp, clusterReplicas)
	checkBronzeDeployment(t, cp)

	makeLag(t, kafka["KAFKA_PLAINTEXT"])
	cp.apply(scaledObject, "-n", "rides")
	hpa := kedaHPA(t, cp)
	checkLagMetrics(t, cp, hpa)

	want := max(ceilDiv(clusterRidesLag, 300_000), ceilDiv(clusterMergeLag, 20_000))
	cp.waitFor(fmt.Sprintf("the HPA to scale the StatefulSet to %d replicas", want), 3*time.Minute, func() bool {
		var sts appsv1.StatefulSet
		cp.getJSON(&sts, "-n", "rides", "statefulset", "rides-connect")
		return sts.Spec.Replicas != nil && int(*sts.Spec.Replicas) == want
	})
	checkStatefulSetPods(t, cp, want)
	var h autoscalingv2.HorizontalPodAutoscaler
	cp.getJSON(&h, "-n", "rides", "hpa", hpa.Name)
	if h.Status.DesiredReplicas != int32(want) {
		t.Errorf("HPA desires %d replicas, want %d", h.Status.DesiredReplicas, want)
	}
}

// prometheusOperatorVersion is the Prometheus Operator release whose CRDs
// servicemonitor.yaml and prometheusrule.yaml are applied with (its module's
// newest version the Go module proxy serves).
const prometheusOperatorVersion = "v0.85.0"

func prometheusOperatorDir(t *testing.T) string {
	t.Helper()
	return moduleDir(t, "PROMETHEUS_OPERATOR_DIR", "github.com/prometheus-operator/prometheus-operator",
		prometheusOperatorVersion, "example/prometheus-operator-crd")
}

// checkControlPlaneKEDAVersion: the KEDA built for the control plane is the
// release whose CRDs and scaler the other tests read.
func checkControlPlaneKEDAVersion(t *testing.T) {
	t.Helper()
	mod := string(read(t, "tests/deploy/controlplane/keda/go.mod"))
	if !strings.Contains(mod, "\tgithub.com/kedacore/keda/v2 "+kedaVersion+" ") {
		t.Fatalf("tests/deploy/controlplane/keda/go.mod does not require KEDA %s (kedaVersion)", kedaVersion)
	}
}

// pointTriggersAt replaces every trigger's bootstrapServers with addr.
func pointTriggersAt(t *testing.T, manifest, addr string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(\s*bootstrapServers:\s*)\S+$`)
	if n := len(re.FindAllString(manifest, -1)); n != 2 {
		t.Fatalf("keda-scaledobject.yaml has %d bootstrapServers, want 2 (one per group)", n)
	}
	return re.ReplaceAllString(manifest, "${1}"+addr)
}

// checkStatefulSetPods waits for the StatefulSet controller's n pods and the
// disruption controller's count of them, and checks what the controller made
// of statefulset.yaml: stable names whose DNS is the headless Service's, and
// the instance id taken from the pod's name.
func checkStatefulSetPods(t *testing.T, cp *controlPlane, n int) {
	t.Helper()
	var sts appsv1.StatefulSet
	cp.getJSON(&sts, "-n", "rides", "statefulset", "rides-connect")
	var headless corev1.Service
	if !cp.getJSON(&headless, "-n", "rides", "service", sts.Spec.ServiceName) {
		t.Fatalf("the StatefulSet's serviceName %q is no Service", sts.Spec.ServiceName)
	}
	if headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None (headless)", headless.Name, headless.Spec.ClusterIP)
	}
	for i := range n {
		name := fmt.Sprintf("rides-connect-%d", i)
		var pod corev1.Pod
		cp.waitFor("pod "+name, time.Minute, func() bool { return cp.getJSON(&pod, "-n", "rides", "pod", name) })
		if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "StatefulSet" {
			t.Errorf("pod %s: owners %v, want the StatefulSet", name, pod.OwnerReferences)
		}
		if pod.Spec.Hostname != name || pod.Spec.Subdomain != headless.Name {
			t.Errorf("pod %s: hostname %q subdomain %q, want %q and %q", name, pod.Spec.Hostname, pod.Spec.Subdomain, name, headless.Name)
		}
		if !matches(headless.Spec.Selector, pod.Labels) {
			t.Errorf("pod %s (labels %v) is not selected by Service %s", name, pod.Labels, headless.Name)
		}
		id := envOf(pod.Spec.Containers[0], "KAFKA_INSTANCE_ID")
		if id == nil || id.ValueFrom == nil || id.ValueFrom.FieldRef == nil || id.ValueFrom.FieldRef.FieldPath != "metadata.name" {
			t.Errorf("pod %s: KAFKA_INSTANCE_ID %+v, want the pod's name", name, id)
		}
	}
	var pdb policyv1.PodDisruptionBudget
	cp.waitFor(fmt.Sprintf("the PodDisruptionBudget to count %d pods", n), time.Minute, func() bool {
		cp.getJSON(&pdb, "-n", "rides", "pdb", "rides-connect")
		return pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.ExpectedPods == int32(n)
	})
	// No pod runs here, so none is healthy and none may be evicted.
	if pdb.Status.CurrentHealthy != 0 || pdb.Status.DisruptionsAllowed != 0 {
		t.Errorf("PodDisruptionBudget: %d healthy, %d disruptions allowed, want 0 and 0", pdb.Status.CurrentHealthy, pdb.Status.DisruptionsAllowed)
	}
}

// checkBronzeDeployment waits for the Deployment controller's pods of the
// bronze job.
func checkBronzeDeployment(t *testing.T, cp *controlPlane) {
	t.Helper()
	var d appsv1.Deployment
	cp.waitFor("the bronze Deployment's pods", time.Minute, func() bool {
		cp.getJSON(&d, "-n", "rides", "deployment", "rides-connect-bronze")
		return d.Spec.Replicas != nil && d.Status.Replicas == *d.Spec.Replicas && d.Status.ObservedGeneration == d.Generation
	})
}

// makeLag gives KEDA's triggers a known lag: stage 1's group committed at
// offset 0 of each partition of rides (as a job that fell behind would have)
// with clusterRidesLag records after it, spread over the partitions at random;
// the internal topic holds clusterMergeLag records and stage 2's group has no
// offsets, which the trigger's offsetResetPolicy earliest counts from the start.
func makeLag(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const partitions = 6
	for _, topic := range []string{"rides", "rides-connect-rides-repartition"} {
		res, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
	}
	offsets := kadm.Offsets{}
	for p := range int32(partitions) {
		offsets.Add(kadm.Offset{Topic: "rides", Partition: p, At: 0, LeaderEpoch: -1})
	}
	if err := adm.CommitAllOffsets(ctx, "rides-connect-rides", offsets); err != nil {
		t.Fatalf("committing stage 1's offsets: %v", err)
	}
	produce := func(topic string, n int) {
		var failed atomic.Pointer[error] // promises run on the client's goroutines
		for i := range n {
			r := &kgo.Record{Topic: topic, Partition: rand.Int32N(partitions), Value: []byte(fmt.Sprintf("r%d", i))}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := failed.Load(); err != nil {
			t.Fatalf("producing to %s: %v", topic, *err)
		}
	}
	produce("rides", clusterRidesLag)
	produce("rides-connect-rides-repartition", clusterMergeLag)
}

// kedaHPA waits for the HPA KEDA makes of the ScaledObject and checks it
// carries the ScaledObject's target, bounds and behaviour.
func kedaHPA(t *testing.T, cp *controlPlane) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	var so struct {
		Spec struct {
			MinReplicaCount int32 `json:"minReplicaCount"`
			MaxReplicaCount int32 `json:"maxReplicaCount"`
			Advanced        struct {
				HPA struct {
					Behavior autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior"`
				} `json:"horizontalPodAutoscalerConfig"`
			} `json:"advanced"`
		} `json:"spec"`
		Status struct {
			Conditions []struct{ Type, Status, Reason, Message string } `json:"conditions"`
		} `json:"status"`
	}
	cp.waitFor("the ScaledObject to be Ready", time.Minute, func() bool {
		cp.getJSON(&so, "-n", "rides", "scaledobject", "rides-connect")
		for _, c := range so.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				return true
			}
		}
		return false
	})
	var hpa autoscalingv2.HorizontalPodAutoscaler
	cp.waitFor("KEDA's HPA", time.Minute, func() bool { return cp.getJSON(&hpa, "-n", "rides", "hpa", "keda-hpa-rides-connect") })
	ref := hpa.Spec.ScaleTargetRef
	if ref.Kind != "StatefulSet" || ref.Name != "rides-connect" || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA scales %+v, want StatefulSet rides-connect", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != so.Spec.MinReplicaCount || hpa.Spec.MaxReplicas != so.Spec.MaxReplicaCount {
		t.Errorf("HPA bounds %v..%d, want %d..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
	}
	got, want := hpa.Spec.Behavior, &so.Spec.Advanced.HPA.Behavior
	if got == nil || !sameRules(got.ScaleUp, want.ScaleUp) || !sameRules(got.ScaleDown, want.ScaleDown) {
		t.Errorf("HPA behaviour:\n%s", lineDiff(t, want, got))
	}
	return &hpa
}

// sameRules compares the fields the ScaledObject sets; the API server
// defaults the rest (selectPolicy).
func sameRules(got, want *autoscalingv2.HPAScalingRules) bool {
	if got == nil || want == nil {
		return got == want
	}
	return equality.Semantic.DeepEqual(got.StabilizationWindowSeconds, want.StabilizationWindowSeconds) &&
		equality.Semantic.DeepEqual(got.Policies, want.Policies)
}

// checkLagMetrics reads each of the HPA's external metrics through the
// aggregation layer, as the HPA controller does, and checks it is the lag
// makeLag made: KEDA's operator read it from the broker over SASL_SSL with
// the Secrets' credentials and CA.
func checkLagMetrics(t *testing.T, cp *controlPlane, hpa *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	lags := map[int64]int64{300_000: clusterRidesLag, 20_000: clusterMergeLag} // lagThreshold -> lag
	if len(hpa.Spec.Metrics) != len(lags) {
		t.Fatalf("HPA has %d metrics, want %d (one per trigger)", len(hpa.Spec.Metrics), len(lags))
	}
	for _, m := range hpa.Spec.Metrics {
		if m.External == nil || m.External.Target.AverageValue == nil {
			t.Fatalf("HPA metric %+v: want an external metric with an average value target", m)
		}
		threshold := m.External.Target.AverageValue.Value()
		want, ok := lags[threshold]
		if !ok {
			t.Fatalf("HPA metric %s: target %d is no trigger's lagThreshold", m.External.Metric.Name, threshold)
		}
		path := fmt.Sprintf("/apis/external.metrics.k8s.io/v1beta1/namespaces/rides/%s?labelSelector=%s",
			m.External.Metric.Name, url.QueryEscape(selectorString(m.External.Metric.Selector.MatchLabels)))
		last := int64(-1)
		cp.waitFor(fmt.Sprintf("metric %s = %d", m.External.Metric.Name, want), time.Minute, func() bool {
			out, err := cp.run(nil, "get", "--raw", path)
			if err != nil {
				return false
			}
			var list struct {
				Items []struct {
					Value resource.Quantity `json:"value"`
				} `json:"items"`
			}
			if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 1 {
				t.Fatalf("metric %s: %v: %s", m.External.Metric.Name, err, out)
			}
			if got := list.Items[0].Value.Value(); got != last {
				t.Logf("metric %s (lagThreshold %d): %d", m.External.Metric.Name, threshold, got)
				last = got
			}
			return last == want
		})
	}
}

func selectorString(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
