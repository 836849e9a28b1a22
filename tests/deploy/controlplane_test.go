package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
)

// controlPlane is a Kubernetes control plane of real binaries on 127.0.0.1
// (tests/deploy/controlplane/build.sh): etcd, kube-apiserver and
// kube-controller-manager with every controller (StatefulSet, disruption,
// HPA, ...), plus KEDA's operator and metrics adapter behind the API
// aggregation layer. No kubelet or scheduler: pods are created and stay
// Pending, so what it proves is admission, the controllers and autoscaling.
type controlPlane struct {
	t          *testing.T
	bin, dir   string
	kubeconfig string
}

// controlPlaneBin returns the folder of the control plane's binaries, or
// skips (fails under DEPLOY_REQUIRE=1, as make test-deploy sets).
func controlPlaneBin(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CONTROL_PLANE_BIN")
	if dir == "" {
		if os.Getenv("DEPLOY_REQUIRE") == "1" {
			t.Fatal("CONTROL_PLANE_BIN is not set (tests/deploy/check.sh builds it)")
		}
		t.Skip("no control plane binaries: set CONTROL_PLANE_BIN to the output of tests/deploy/controlplane/build.sh")
	}
	return dir
}

func startControlPlane(t *testing.T, bin string) *controlPlane {
	t.Helper()
	c := &controlPlane{t: t, bin: bin, dir: t.TempDir()}
	pki := filepath.Join(c.dir, "pki")
	if err := os.Mkdir(pki, 0o700); err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "kubernetes-ca")
	caFile := ca.writeCA(t, pki, "ca.crt")
	serverCert, serverKey := ca.issue(t, pki, "apiserver", "kube-apiserver", "localhost", "kubernetes.default.svc")
	frontProxy := newTestCA(t, "front-proxy-ca")
	frontProxyCA := frontProxy.writeCA(t, pki, "front-proxy-ca.crt")
	proxyCert, proxyKey := frontProxy.issue(t, pki, "front-proxy-client", "front-proxy-client")
	saKey, saPub := writeKeyPair(t, pki, "sa")
	token := "admin-" + base64.RawURLEncoding.EncodeToString(serial(t).Bytes())
	tokens := filepath.Join(pki, "tokens.csv")
	writeFile(t, tokens, []byte(token+",admin,admin,system:masters\n"))

	etcdClient, etcdPeer, apiAddr := c.freeAddr(), c.freeAddr(), c.freeAddr()
	c.start("etcd", "etcd", "--data-dir", filepath.Join(c.dir, "etcd"), "--log-level", "warn",
		"--listen-client-urls", "http://"+etcdClient, "--advertise-client-urls", "http://"+etcdClient,
		"--listen-peer-urls", "http://"+etcdPeer, "--initial-advertise-peer-urls", "http://"+etcdPeer,
		"--initial-cluster", "default=http://"+etcdPeer)
	_, apiPort, _ := net.SplitHostPort(apiAddr)
	c.start("kube-apiserver", "kube-apiserver", "--etcd-servers", "http://"+etcdClient,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", apiPort,
		// A loopback advertise address is refused by the reconciler of the
		// kubernetes Service's endpoints, which nothing here uses.
		"--endpoint-reconciler-type", "none", "--service-cluster-ip-range", "10.96.0.0/24",
		"--tls-cert-file", serverCert, "--tls-private-key-file", serverKey, "--client-ca-file", caFile,
		"--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saPub, "--service-account-signing-key-file", saKey,
		// The aggregation layer, for KEDA's external metrics.
		"--requestheader-client-ca-file", frontProxyCA, "--requestheader-allowed-names", "front-proxy-client",
		"--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", proxyCert, "--proxy-client-key-file", proxyKey)

	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	writeFile(t, c.kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "https://%s", certificate-authority: %q}
users:
- name: admin
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, apiAddr, caFile, token)))
	c.waitFor("the API server to be ready", 90*time.Second, func() bool {
		_, err := c.run(nil, "get", "--raw", "/readyz")
		return err == nil
	})

	c.start("kube-controller-manager", "kube-controller-manager", "--kubeconfig", c.kubeconfig,
		"--authentication-kubeconfig", c.kubeconfig, "--authorization-kubeconfig", c.kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", port(c.freeAddr()),
		"--service-account-private-key-file", saKey, "--root-ca-file", caFile,
		"--controllers", "*", "--leader-elect=false",
		// The HPA's default period is 15 s; 5 s keeps the test short and changes no rule.
		"--horizontal-pod-autoscaler-sync-period", "5s")
	return c
}

// startKEDA runs KEDA's operator and metrics adapter as its install does (the
// CRDs of the KEDA module, namespace keda, the adapter registered as
// v1beta1.external.metrics.k8s.io), with their mutual TLS from a test CA.
func (c *controlPlane) startKEDA(crds string) {
	t := c.t
	t.Helper()
	c.kubectl("apply", "--server-side", "-f", crds)
	c.kubectl("create", "namespace", "keda")
	certs := filepath.Join(c.dir, "keda-certs")
	if err := os.Mkdir(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "KEDA")
	ca.writeCA(t, certs, "ca.crt")
	crt, key := ca.issue(t, certs, "tls", "keda", "localhost", "keda-metrics-apiserver.keda.svc",
		"keda-operator.keda.svc.cluster.local")
	// KUBECONFIG: controller-runtime's client outside a pod.
	env := []string{"POD_NAMESPACE=keda", "KEDA_CLUSTER_OBJECT_NAMESPACE=keda", "WATCH_NAMESPACE=", "KUBECONFIG=" + c.kubeconfig}
	grpcAddr := c.freeAddr()
	c.startEnv("keda-operator", "keda-operator", env, "--kubeconfig", c.kubeconfig,
		"--metrics-bind-address", c.freeAddr(), "--health-probe-bind-address", c.freeAddr(),
		"--metrics-service-bind-address", grpcAddr, "--cert-dir", certs, "--enable-cert-rotation=false",
		"--ca-dir", certs)
	adapterAddr := c.freeAddr()
	c.startEnv("keda-adapter", "keda-adapter", env, "--secure-port", port(adapterAddr), "--bind-address", "127.0.0.1",
		"--cert-dir", certs, "--tls-cert-file", crt, "--tls-private-key-file", key,
		"--authentication-kubeconfig", c.kubeconfig, "--authorization-kubeconfig", c.kubeconfig,
		"--lister-kubeconfig", c.kubeconfig, "--port", port(c.freeAddr()),
		"--metrics-service-address", "localhost:"+port(grpcAddr))
	// The aggregator reaches an ExternalName Service at its name and the
	// APIService's port: here the adapter on 127.0.0.1, where a cluster has
	// KEDA's Service.
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: keda-metrics-apiserver, namespace: keda}
spec: {type: ExternalName, externalName: localhost}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  service: {name: keda-metrics-apiserver, namespace: keda, port: %s}
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: %s
`, port(adapterAddr), base64.StdEncoding.EncodeToString(ca.pem)))
	c.waitFor("KEDA's external metrics API to be available", 90*time.Second, func() bool {
		_, err := c.run(nil, "get", "--raw", "/apis/external.metrics.k8s.io/v1beta1")
		return err == nil
	})
}

func (c *controlPlane) freeAddr() string {
	addr, err := harness.FreeAddr()
	if err != nil {
		c.t.Fatal(err)
	}
	return addr
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func (c *controlPlane) start(name, bin string, args ...string) { c.startEnv(name, bin, nil, args...) }

func (c *controlPlane) startEnv(name, bin string, env []string, args ...string) {
	c.t.Helper()
	p, err := harness.Start(filepath.Join(c.bin, bin), args, env, filepath.Join(c.dir, name+".log"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		_ = p.Stop(10 * time.Second)
		if c.t.Failed() {
			c.t.Logf("%s log (last lines):\n%s", name, tail(p.Log, 25))
		}
	})
}

// run is kubectl with the test's kubeconfig; stdin may be nil.
func (c *controlPlane) run(stdin []byte, args ...string) (string, error) {
	out, _, err := c.runWithStderr(stdin, args...)
	return out, err
}

// runWithStderr is run that also returns what kubectl printed on stderr (the
// API server's warnings), which a failure's error carries too.
func (c *controlPlane) runWithStderr(stdin []byte, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Dir = repoRoot
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), nil
}

// kubectl runs kubectl and fails the test if it fails.
func (c *controlPlane) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.run(nil, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// apply is kubectl apply -f - of manifests.
func (c *controlPlane) apply(manifests string, args ...string) string {
	c.t.Helper()
	out, err := c.run([]byte(manifests), append([]string{"apply", "-f", "-"}, args...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// getJSON decodes kubectl get -o json of one object into v; false if absent.
func (c *controlPlane) getJSON(v any, args ...string) bool {
	c.t.Helper()
	out, err := c.run(nil, append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		if strings.Contains(err.Error(), "NotFound") {
			return false
		}
		c.t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("kubectl get %v: %v", args, err)
	}
	return true
}

// waitFor polls cond until it holds, failing the test after limit.
func (c *controlPlane) waitFor(what string, limit time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
