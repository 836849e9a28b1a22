package deploy

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/objstore"
)

// composeStack is docker-compose.yml run as local processes: each service's
// host:port as its local 127.0.0.1 address.
type composeStack struct {
	t        *testing.T
	dir      string
	addrs    map[string]string   // "service:containerPort" → 127.0.0.1:port
	replicas map[string][]string // "service:containerPort" → each replica's 127.0.0.1:port
	procs    map[string]*harness.Process
}

// composeReplicas is the N of `docker compose up --scale rides=N` the test
// runs the rides job with (docker-compose.yml's header: up to 6, the
// partitions of rides).
const composeReplicas = 2

var reHostPort = regexp.MustCompile(`\b([a-z][a-z0-9-]*):([0-9]{2,5})\b`)

// rewrite replaces every "service:port" of the compose network with its local
// address; a reference to a service port that no service offers fails the test.
func (s *composeStack) rewrite(where, v string, services types.Services) string {
	return reHostPort.ReplaceAllStringFunc(v, func(m string) string {
		if a, ok := s.addrs[m]; ok {
			return a
		}
		host := reHostPort.FindStringSubmatch(m)[1]
		if _, isService := services[host]; isService {
			s.t.Errorf("%s refers to %s, which service %s does not serve", where, m, host)
		}
		return m
	})
}

func (s *composeStack) env(name string, svc types.ServiceConfig, services types.Services, extra ...string) []string {
	var out []string
	for k, v := range svc.Environment {
		if v != nil {
			out = append(out, k+"="+s.rewrite(name+" env "+k, *v, services))
		}
	}
	sort.Strings(out)
	return append(out, extra...)
}

func (s *composeStack) args(name string, cmd []string, services types.Services) []string {
	out := make([]string, len(cmd))
	for i, a := range cmd {
		out[i] = s.rewrite(name+" command", a, services)
	}
	return out
}

func (s *composeStack) start(name, bin string, args, env []string) *harness.Process {
	s.t.Helper()
	p, err := harness.Start(bin, args, env, filepath.Join(s.dir, name+".log"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.procs[name] = p
	s.t.Cleanup(func() { _ = p.Stop(20 * time.Second) })
	return p
}

func imageTag(img string) string {
	_, tag, _ := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
	return tag
}

// order returns the services in depends_on order.
func order(services types.Services) []string {
	var out []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		deps := make([]string, 0)
		for d := range services[n].DependsOn {
			deps = append(deps, d)
		}
		sort.Strings(deps)
		for _, d := range deps {
			visit(d)
		}
		out = append(out, n)
	}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		visit(n)
	}
	return out
}

// completes: some service waits for this one with service_completed_successfully.
func completes(name string, services types.Services) bool {
	for _, s := range services {
		if d, ok := s.DependsOn[name]; ok && d.Condition == types.ServiceConditionCompletedSuccessfully {
			return true
		}
	}
	return false
}

// TestComposeAsProcesses starts what docker-compose.yml describes, service by
// service in depends_on order, with each service's own command and
// environment: Apache Kafka (KRaft, the compose image's version from Maven
// Central), versitygw with the buckets s3-init creates, the topic created by
// kafka-init, the simulator, the job writing Delta to S3 as with `--scale
// rides=2` (two processes of the rides service, each as a container would be:
// its own HTTP address and, left to its default, its own KAFKA_INSTANCE_ID),
// and Prometheus with deploy/prometheus. It checks the rides service can be
// scaled (checkScalable), both replicas own partitions of rides, the windows
// reach the Delta table on S3 equal to the reference, and Prometheus
// scrapes every replica.
func TestComposeAsProcesses(t *testing.T) {
	versitygw, prometheus := os.Getenv("VERSITYGW"), os.Getenv("PROMETHEUS")
	if versitygw == "" || prometheus == "" {
		if os.Getenv("DEPLOY_REQUIRE") == "1" {
			t.Fatal("VERSITYGW and PROMETHEUS must name the binaries (tests/deploy/check.sh installs them)")
		}
		t.Skip("needs VERSITYGW, PROMETHEUS and a JDK for Kafka: run tests/deploy/check.sh")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")}, cli.WithName("rides"),
		cli.WithWorkingDirectory(repoRoot))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatal(err)
	}
	services := project.Services
	s := &composeStack{t: t, dir: t.TempDir(), addrs: map[string]string{}, replicas: map[string][]string{}, procs: map[string]*harness.Process{}}
	// Every published port becomes a free 127.0.0.1 port.
	for name, svc := range services {
		for _, p := range svc.Ports {
			a, err := harness.FreeAddr()
			if err != nil {
				t.Fatal(err)
			}
			s.addrs[fmt.Sprintf("%s:%d", name, p.Target)] = a
		}
	}
	var (
		promAddr, s3Addr string
		jobAddrs         []string // each rides replica's HTTP address
		jobProcs         []string // and its process name
		s3Env            []string
		rides            []string // rides job services (config rides.yaml)
		producers        []string // simulator services, bounded here by SIM_COUNT
		brokerEnv        map[string]string
	)
	for _, name := range order(services) {
		svc := services[name]
		switch {
		case strings.HasPrefix(svc.Image, "apache/kafka:"):
			if svc.Environment["KAFKA_PROCESS_ROLES"] == nil || *svc.Environment["KAFKA_PROCESS_ROLES"] != "broker,controller" {
				t.Errorf("%s: not a combined KRaft broker+controller", name)
			}
			brokerEnv = startKafka(t, imageTag(svc.Image))
			adv := *svc.Environment["KAFKA_ADVERTISED_LISTENERS"]
			hostPort := strings.TrimPrefix(adv, "PLAINTEXT://")
			if !slices.ContainsFunc(svc.Ports, func(p types.ServicePortConfig) bool { return hostPort == fmt.Sprintf("%s:%d", name, p.Target) }) {
				t.Errorf("%s advertises %s, which is not its published port", name, adv)
			}
			s.addrs[hostPort] = brokerEnv["KAFKA_PLAINTEXT"]
		case strings.HasPrefix(svc.Image, "versity/versitygw:"):
			if got := versitygwVersion(t, versitygw); "v"+got != imageTag(svc.Image) {
				t.Errorf("%s runs %s; the installed versitygw is %s (tests/deploy/check.sh pins it)", name, svc.Image, got)
			}
			s3Addr = s.addrs[name+":7070"]
			args := s.args(name, svc.Command, services)
			for i, a := range args {
				if strings.HasPrefix(a, ":") { // --port :7070 listens on all interfaces: here loopback only
					args[i] = s3Addr
				}
				if a == "/data" { // the s3-data volume
					args[i] = filepath.Join(s.dir, "s3-data")
					if err := os.MkdirAll(args[i], 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			s3Env = s.env(name, svc, services)
			p := s.start(name, versitygw, args, s3Env)
			waitListening(t, ctx, p, s3Addr)
		case strings.HasPrefix(svc.Image, "amazon/aws-cli:"):
			createBuckets(t, ctx, name, s.rewrite(name, strings.Join(svc.Command, " "), services), s.env(name, svc, services))
		case strings.HasPrefix(svc.Image, "prom/prometheus:"):
			promAddr = s.addrs[name+":9090"]
			p := s.start(name, prometheus, prometheusArgs(t, s, name, svc, services, promAddr), nil)
			waitListening(t, ctx, p, promAddr)
		case svc.Build != nil:
			args := s.args(name, svc.Command, services)
			var extra []string
			if slices.Contains(args, "/etc/rides-connect/producer.yaml") {
				// Event time replayed from a fixed start, fast, so windows close within
				// the test instead of after 15 wall-clock minutes.
				extra = []string{"SIM_START=2026-03-14T08:00:00Z", "SIM_STEP_MS=1000", "SIM_INTERVAL=1ms", "SIM_COUNT=3600"}
				producers = append(producers, name)
			}
			isJob := slices.Contains(args, "/etc/rides-connect/rides.yaml")
			replicas := 1
			if isJob {
				checkScalable(t, name, svc)
				rides = append(rides, name)
				replicas = composeReplicas
			}
			// The image's configs are the repository's (Dockerfile COPY).
			for i, a := range args {
				if strings.HasPrefix(a, "/etc/rides-connect/") {
					args[i] = filepath.Join(repoRoot, "config", strings.TrimPrefix(a, "/etc/rides-connect/"))
				}
			}
			for r := range replicas {
				proc := name
				if replicas > 1 {
					proc = fmt.Sprintf("%s-%d", name, r+1) // as compose names the containers
				}
				// Each replica's container port on a loopback address of its own, as
				// each container has its own network address; the first is the one
				// allocated for the service. Here, on one host, the replicas' default
				// KAFKA_INSTANCE_IDs differ by that port (cmd/rides-connect/instanceid.go),
				// as containers' differ by their host names.
				penv := slices.Clone(extra)
				var addrs []string
				for _, sp := range svc.Ports {
					key := fmt.Sprintf("%s:%d", name, sp.Target)
					a := s.addrs[key]
					if r > 0 {
						if a, err = harness.FreeAddr(); err != nil {
							t.Fatal(err)
						}
					}
					s.replicas[key] = append(s.replicas[key], a)
					addrs = append(addrs, a)
					penv = append(penv, "HTTP_ADDRESS="+a)
				}
				p := s.start(proc, binary, args, s.env(name, svc, services, penv...))
				for _, a := range addrs {
					// Its own HTTP server, not another process on the port: Benthos runs on
					// without one when the bind fails, and Prometheus would scrape nothing.
					waitPong(t, ctx, p, a)
					if isJob {
						jobAddrs, jobProcs = append(jobAddrs, a), append(jobProcs, proc)
					}
				}
				if completes(name, services) {
					if err := p.Wait(ctx); err != nil {
						log, _ := os.ReadFile(p.Log)
						t.Fatalf("%s: %v\n%s", name, err, log)
					}
				}
			}
		case strings.HasPrefix(svc.Image, "grafana/grafana:"):
			t.Logf("%s: not run (Grafana is not packaged for Debian); its provisioning is checked by tests/observability", name)
		default:
			t.Errorf("service %s (image %q): no local equivalent in this test", name, svc.Image)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if len(rides) != 1 || len(jobAddrs) != composeReplicas || promAddr == "" {
		t.Fatalf("want one rides job service with a port, run as %d replicas, and Prometheus; got %v %q %q", composeReplicas, rides, jobAddrs, promAddr)
	}

	// The windows reach the Delta table on S3, equal to the reference.
	job := services[rides[0]]
	envOf := func(k string) string { return s.rewrite(k, *job.Environment[k], services) }
	store, err := objstore.Open(ctx, envOf("OUT_DELTA"), objstore.Options{S3: objstore.S3Options{
		Endpoint: envOf("S3_ENDPOINT"), Region: envOf("AWS_REGION"), ForcePathStyle: envOf("S3_FORCE_PATH_STYLE") == "true",
		AccessKeyID: envOf("AWS_ACCESS_KEY_ID"), SecretAccessKey: envOf("AWS_SECRET_ACCESS_KEY")}})
	if err != nil {
		t.Fatal(err)
	}
	// The reference is the whole topic: the simulators' SIM_COUNT rides, once they have all been sent.
	for _, name := range producers {
		if err := s.procs[name].Wait(ctx); err != nil {
			log, _ := os.ReadFile(s.procs[name].Log)
			t.Fatalf("%s: %v\n%s", name, err, log)
		}
	}
	broker := &harness.Broker{Addr: brokerEnv["KAFKA_PLAINTEXT"]}
	want := reference(t, ctx, broker)
	if len(want) == 0 {
		t.Fatalf("the simulators (%v) sent no rides that close a window", producers)
	}
	got, err := harness.WaitForStoreRows(ctx, store, len(want))
	if err != nil {
		t.Fatal(err)
	}
	if diff := harness.DiffRows(got, want); diff != "" {
		t.Fatalf("Delta table on S3 differs from the reference:\n%s", diff)
	}
	t.Logf("Delta table on S3 equals the reference (%d rows) %s after start", len(want), time.Since(start).Round(time.Second))

	// The replicas share the topic: each owns some of its partitions, and
	// together every one once.
	total := 0.0
	for i, a := range jobAddrs {
		n := assigned(get(t, "http://"+a+"/metrics"), "rides")
		t.Logf("%s owns %v partitions of rides", jobProcs[i], n)
		if n < 1 {
			t.Errorf("%s owns no partition of rides: the replicas do not share the work", jobProcs[i])
		}
		total += n
	}
	if parts := composePartitions(t); int(total) != parts {
		t.Errorf("the replicas own %v partitions of rides together, the topic has %d", total, parts)
	}

	// Prometheus scrapes the job: up == 1 and the job's own metrics, and loaded the alert rules.
	// Its own deadline: a slow start of the stack above does not eat the scrapes' time.
	promCtx, promCancel := context.WithTimeout(context.Background(), time.Minute)
	defer promCancel()
	// Every replica is a target of the rides-connect job, found by DNS in compose.
	upAll := fmt.Sprintf(`count(up{job="rides-connect"} == 1) == %d`, composeReplicas)
	for _, q := range []string{upAll, `delta_commits_total{job="rides-connect"} > 0`, `window_watermark_ms{job="rides-connect"}`} {
		waitQuery(t, promCtx, promAddr, q)
	}
	var rules struct {
		Data struct {
			Groups []struct{ Rules []json.RawMessage } `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(get(t, "http://"+promAddr+"/api/v1/rules")), &rules); err != nil || len(rules.Data.Groups) == 0 {
		t.Errorf("Prometheus loaded no alert rules from deploy/prometheus (%v)", err)
	}
	for name, p := range s.procs {
		t.Logf("%s: pid %d, exited %v", name, p.PID(), p.Exited())
		// A service may end by itself (a one-shot task) but not fail; the job must still run.
		if !p.Exited() {
			continue
		}
		if err := p.Wait(ctx); err != nil || slices.Contains(jobProcs, name) {
			log, _ := os.ReadFile(p.Log)
			t.Errorf("%s exited (%v) while the stack runs:\n%s", name, err, log)
		}
	}
}

// startKafka starts a broker of that Apache Kafka version with
// tests/realkafka/broker.sh and returns its env lines.
func startKafka(t *testing.T, version string) map[string]string {
	t.Helper()
	script := filepath.Join(repoRoot, "tests/realkafka/broker.sh")
	cmd := exec.Command("bash", script, "start")
	// Its own TMPDIR: broker.sh records the "current" broker there, and other
	// users of broker.sh on this machine must not see ours.
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "KAFKA_VERSION="+version, "TMPDIR="+tmp)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("broker.sh start (Kafka %s): %v", version, err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	t.Cleanup(func() {
		stop := exec.Command("bash", script, "stop", env["KAFKA_BROKER_DIR"])
		stop.Env = append(os.Environ(), "TMPDIR="+tmp)
		_ = stop.Run()
	})
	if env["KAFKA_PLAINTEXT"] == "" {
		t.Fatalf("broker.sh printed no KAFKA_PLAINTEXT: %s", out)
	}
	return env
}

func versitygwVersion(t *testing.T, bin string) string {
	t.Helper()
	info, err := buildinfo.ReadFile(bin) // go install records the module version; --version says "git"
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(info.Main.Version, "v")
}

var reMakeBucket = regexp.MustCompile(`--endpoint-url (\S+) s3 mb s3://([a-z0-9.-]+)`)

// createBuckets does what the aws-cli init service's `s3 mb` commands do,
// with its credentials, through the S3 API.
func createBuckets(t *testing.T, ctx context.Context, name, command string, env []string) {
	t.Helper()
	e := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		e[k] = v
	}
	ms := reMakeBucket.FindAllStringSubmatch(command, -1)
	if len(ms) == 0 {
		t.Fatalf("%s: no `s3 mb` in %q", name, command)
	}
	for _, m := range ms {
		cl := s3.New(s3.Options{Region: e["AWS_REGION"], BaseEndpoint: aws.String(m[1]), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"], "")})
		if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(m[2])}); err != nil {
			t.Fatalf("%s: s3 mb s3://%s at %s: %v", name, m[2], m[1], err)
		}
	}
}

// prometheusArgs: the compose command with deploy/prometheus (its volume)
// copied to a temp dir, the scrape targets rewritten to local addresses and
// the scrape interval shortened to 1 s so the test does not wait 15 s a scrape.
func prometheusArgs(t *testing.T, s *composeStack, name string, svc types.ServiceConfig, services types.Services, addr string) []string {
	t.Helper()
	conf := filepath.Join(s.dir, "prometheus")
	var src string
	for _, v := range svc.Volumes {
		if v.Target == "/etc/prometheus" {
			src = v.Source
		}
	}
	if src == "" {
		t.Fatalf("%s mounts no /etc/prometheus", name)
	}
	if err := os.CopyFS(conf, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(conf, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s.addrs["localhost:9090"] = addr // Prometheus scraping itself
	y := s.rewrite(name+" prometheus.yml", s.dnsTargets(name, b, services), services)
	y = regexp.MustCompile(`(?m)^(\s*scrape_interval:).*$`).ReplaceAllString(y, "${1} 1s")
	if err := os.WriteFile(filepath.Join(conf, "prometheus.yml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range svc.Command {
		args = append(args, strings.ReplaceAll(a, "/etc/prometheus", conf))
	}
	return append(args, "--web.listen-address="+addr, "--storage.tsdb.path="+filepath.Join(s.dir, "prometheus-data"))
}

// dnsTargets turns each A-record DNS discovery of prometheus.yml whose names
// are compose services (each container of a service answers to its name on
// the compose network) into static targets: every replica's local address.
func (s *composeStack) dnsTargets(name string, b []byte, services types.Services) string {
	t := s.t
	t.Helper()
	var conf map[string]any
	if err := yamlUnmarshal(b, &conf); err != nil {
		t.Fatalf("%s prometheus.yml: %v", name, err)
	}
	for _, sc := range asList(conf["scrape_configs"]) {
		sc, _ := sc.(map[string]any)
		sds := asList(sc["dns_sd_configs"])
		if sds == nil {
			continue
		}
		var targets []any
		for _, sd := range sds {
			sd, _ := sd.(map[string]any)
			port, _ := sd["port"].(float64)
			if sd["type"] != "A" || port == 0 {
				t.Errorf("%s prometheus.yml: job %v: DNS discovery %v: want type A with a port (compose answers A records)", name, sc["job_name"], sd)
				continue
			}
			for _, n := range asList(sd["names"]) {
				key := fmt.Sprintf("%v:%d", n, int(port))
				if _, ok := services[fmt.Sprint(n)]; !ok || len(s.replicas[key]) == 0 {
					t.Errorf("%s prometheus.yml: job %v discovers %s, which no compose service started before it serves", name, sc["job_name"], key)
				}
				for _, a := range s.replicas[key] {
					targets = append(targets, a)
				}
			}
		}
		delete(sc, "dns_sd_configs")
		sc["static_configs"] = append(asList(sc["static_configs"]), map[string]any{"targets": targets})
	}
	out, err := yamlMarshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// checkScalable: what `docker compose up --scale <name>=N` needs of a
// service, and what the rides job needs of its replicas.
func checkScalable(t *testing.T, name string, svc types.ServiceConfig) {
	t.Helper()
	if svc.ContainerName != "" {
		t.Errorf("%s: container_name %q: compose cannot start a second container of that name", name, svc.ContainerName)
	}
	if svc.Hostname != "" {
		t.Errorf("%s: hostname %q: every replica would default to one KAFKA_INSTANCE_ID", name, svc.Hostname)
	}
	for _, p := range svc.Ports {
		if p.Published != "" && !strings.Contains(p.Published, "-") {
			t.Errorf("%s: publishes container port %d on the fixed host port %s: only one replica could bind it", name, p.Target, p.Published)
		}
	}
	// One member id shared by two live replicas makes them fence each other:
	// unset, each container's default is its own host name (its ID).
	if v := svc.Environment["KAFKA_INSTANCE_ID"]; v != nil && *v != "" {
		t.Errorf("%s: KAFKA_INSTANCE_ID=%q is the same for every replica: leave it unset", name, *v)
	}
	// Stage 1's state and the table follow a partition to whichever replica
	// owns it: a store every container reaches, not a container's own disk.
	for _, k := range []string{"CHECKPOINT", "OUT_DELTA"} {
		if v := svc.Environment[k]; v == nil || !reShared.MatchString(*v) {
			t.Errorf("%s: %s must be on the shared S3 store (s3:// or s3a://), got %v", name, k, v)
		}
	}
}

// assigned sums kafka_input_partition_assigned over the partitions of topic
// in a Prometheus text exposition.
func assigned(text, topic string) float64 {
	var sum float64
	re := regexp.MustCompile(`(?m)^kafka_input_partition_assigned\{[^}]*\btopic="` + regexp.QuoteMeta(topic) + `"[^}]*\} ([0-9.e+]+)$`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		sum += v
	}
	return sum
}

// waitPong waits for the rides-connect process p to answer /ping on addr,
// failing at once if its log says its HTTP server could not start.
func waitPong(t *testing.T, ctx context.Context, p *harness.Process, addr string) {
	t.Helper()
	for {
		resp, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "pong" {
				return
			}
			err = fmt.Errorf("GET /ping: %d %q", resp.StatusCode, body)
		}
		log, _ := os.ReadFile(p.Log)
		if p.Exited() || ctx.Err() != nil || strings.Contains(string(log), "HTTP Server error") {
			t.Fatalf("%s: no HTTP server of its own on %s: %v\n%s", p.Log, addr, err, log)
		}
		time.Sleep(100 * time.Millisecond) // poll the listener; ctx bounds it
	}
}

func waitListening(t *testing.T, ctx context.Context, p *harness.Process, addr string) {
	t.Helper()
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if p.Exited() || ctx.Err() != nil {
			log, _ := os.ReadFile(p.Log)
			t.Fatalf("%s not listening on %s: %v\n%s", p.Log, addr, err, log)
		}
		time.Sleep(100 * time.Millisecond) // poll the listener; ctx bounds it
	}
}

// waitQuery polls Prometheus until the instant query returns a sample.
func waitQuery(t *testing.T, ctx context.Context, addr, q string) {
	t.Helper()
	for {
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		body := get(t, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q))
		if err := json.Unmarshal([]byte(body), &r); err == nil && r.Status == "success" && len(r.Data.Result) > 0 {
			return
		}
		if ctx.Err() != nil {
			// The scrape targets' health and last error say why (a scrape failing or timing out).
			resp, err := http.Get("http://" + addr + "/api/v1/targets")
			var targets []byte
			if err == nil {
				targets, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			t.Fatalf("Prometheus query %s returned nothing: %s\ntargets: %s %v", q, body, targets, err)
		}
		time.Sleep(500 * time.Millisecond) // poll between scrapes; ctx bounds it
	}
}
