package observability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	// The same registrations as cmd/rides-connect.
	_ "github.com/miaradia/rides-connect/plugins/all"
	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// job is config/rides.yaml running against an in-process broker, either in
// this process (StreamBuilder, the default) or as the rides-connect binary
// (RIDES_OBS_BINARY=1).
type job struct {
	scrapeURL string
	logs      *syncBuffer
	stop      func()
	exited    func() bool // the job ended on its own
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func jobEnv(t *testing.T, broker string) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"KAFKA_BOOTSTRAP": broker,
		"KAFKA_START":     "earliest",
		"DLQ_TOPIC":       "rides_dlq",
		"OUT_DELTA":       filepath.Join(dir, "silver", "rides_agg"),
		"CHECKPOINT":      filepath.Join(dir, "checkpoints", "rides"),
		"LOG_FORMAT":      "json",
	}
}

// Progress every second so the test sees several events in a short run.
const progressEvery = "1s"

func startInProcess(t *testing.T, env map[string]string) *job {
	t.Helper()
	b := service.NewStreamBuilder()
	b.SetEnvVarLookupFunc(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	// Linting config/rides.yaml is the config tier's job (make test-config); this
	// test is about the metrics of a running job.
	b.DisableLinting()
	if err := b.SetYAML(string(read(t, "config/rides.yaml"))); err != nil {
		t.Fatalf("config/rides.yaml: %v", err)
	}
	if err := b.SetMetricsYAML("prometheus:\n  progress_interval: " + progressEvery + "\n"); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	b.SetLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	mux := http.NewServeMux()
	b.SetHTTPMux(mux)
	s, err := b.Build()
	if err != nil {
		t.Fatalf("building config/rides.yaml: %v", err)
	}
	srv := httptest.NewServer(mux) // 127.0.0.1, free port
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	ended := func() bool {
		select {
		case err := <-done:
			done <- err
			return true
		default:
			return false
		}
	}
	return &job{scrapeURL: srv.URL + "/metrics", logs: logs, exited: ended, stop: func() {
		if err := s.StopWithin(20 * time.Second); err != nil {
			t.Errorf("stopping the stream: %v", err)
		}
		cancel()
		<-done
		srv.Close()
	}}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rides-connect")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rides-connect")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startBinary(t *testing.T, env map[string]string) *job {
	t.Helper()
	return runBinary(t, buildBinary(t), env, "-c", filepath.Join(root, "config/rides.yaml"),
		"--set", "metrics.prometheus.progress_interval="+progressEvery)
}

// runBinary starts bin with args; the HTTP server listens on a free
// 127.0.0.1 port passed as HTTP_ADDRESS.
func runBinary(t *testing.T, bin string, env map[string]string, args ...string) *job {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HTTP_ADDRESS="+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	ended := func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}
	return &job{scrapeURL: "http://" + addr + "/metrics", logs: logs, exited: ended, stop: func() {
		// Only the child we started, by its PID.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("rides-connect (pid %d) ignored SIGTERM for 30s; killed", cmd.Process.Pid)
		}
	}}
}

// scrape returns the exposed families, or nil while the server is not up.
func scrape(url string) map[string]*dto.MetricFamily {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil
	}
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := (&p).TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	return fams
}

// sum of a counter or gauge family over its series whose labels include match.
func sum(fams map[string]*dto.MetricFamily, name string, match ...string) float64 {
	var total float64
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			ok = ok && labels[match[i]] == match[i+1]
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// waitFor scrapes until cond holds; the pipeline is asynchronous (input
// batching period 1s, Delta batching period 5s), so this polls a condition,
// it does not wait for time to pass.
func waitFor(t *testing.T, j *job, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last map[string]*dto.MetricFamily
	for time.Now().Before(deadline) {
		if j.exited() {
			t.Fatalf("the job stopped while waiting for %s; logs:\n%s", what, nonProgress(j.logs.String()))
		}
		if fams := scrape(j.scrapeURL); fams != nil {
			last = fams
			if cond(fams) {
				return fams
			}
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not a wait for time to pass
	}
	var names []string
	for n := range last {
		if !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
			names = append(names, fmt.Sprintf("%s=%v", n, sum(last, n)))
		}
	}
	t.Fatalf("timed out waiting for %s; last scrape: %v\nlogs:\n%s", what, names, nonProgress(j.logs.String()))
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// t0 is hour-aligned (so 5-minute aligned) and 3 hours back: the watermark
// trails the wall clock by hours, which RidesWatermarkBehind must notice.
var t0 = time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)

// rides builds n valid ride records with event times spread over [from, to).
func rides(n int, from, to time.Duration) [][]byte {
	cities := []string{"fr", "us", "de"}
	out := make([][]byte, n)
	for i := range out {
		ts := t0.Add(from + time.Duration(i)*(to-from)/time.Duration(n))
		out[i] = fmt.Appendf(nil, `{"rideId":%d,"userId":%d,"city":%q,"distanceKm":%.1f,"price":%.2f,"ts":%q}`,
			i, 1000+i, cities[i%3], 5+float64(i%20), 8+float64(i%7), ts.Format(time.RFC3339))
	}
	return out
}

func produce(t *testing.T, cl *kgo.Client, values [][]byte) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: "rides", Key: fmt.Appendf(nil, "k%d", i), Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestPipelineMetrics runs config/rides.yaml (kafka_franz from kfake → parse →
// tumbling_window → delta_lake, dead letters to Kafka), scrapes /metrics
// while it runs, and checks (1) the key series move, (2) the progress events,
// (3) every metric the dashboard and the alert rules use is exposed.
func TestPipelineMetrics(t *testing.T) {
	for _, comp := range []struct{ kind, name string }{
		{"input", "kafka_franz"}, {"processor", "tumbling_window"}, {"output", "delta_lake"}, {"cache", "checkpoint"},
	} {
		if !registered(comp.kind, comp.name) {
			t.Skipf("the %s %s plugin is not registered yet: this end-to-end test needs the whole pipeline", comp.kind, comp.name)
		}
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "rides"), kfake.SeedTopics(1, "rides_dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	start := startInProcess
	if os.Getenv("RIDES_OBS_BINARY") == "1" {
		start = startBinary
	}
	j := start(t, jobEnv(t, broker))
	prom := startPrometheus(t, j.scrapeURL)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			j.stop()
		}
	}
	defer stop()

	// Phase 1: the first window's rows, plus records that must be dead-lettered.
	first := rides(60, 0, 4*time.Minute)
	bad := [][]byte{[]byte("not json"), []byte(`{"rideId":1}`), []byte(`{"rideId":2,"userId":3,"city":"fr","distanceKm":1,"price":2,"ts":"yesterday"}`)}
	produce(t, cl, append(first, bad...))
	s1 := waitFor(t, j, "phase 1 read and aggregated", func(f map[string]*dto.MetricFamily) bool {
		return sum(f, "input_received") >= 63 && sum(f, "window_input_rows_total") >= 60 &&
			sum(f, "dead_letter_rows_total") >= 3 && sum(f, "window_watermark_ms") > 0
	})

	// Phase 2: event time moves 20 minutes on: the first window closes and is committed.
	produce(t, cl, rides(60, 5*time.Minute, 20*time.Minute))
	s2 := waitFor(t, j, "first window emitted and committed", func(f map[string]*dto.MetricFamily) bool {
		return sum(f, "window_emitted_rows_total") >= 3 && sum(f, "delta_commits_total") >= 1
	})

	// Phase 3: a late row (its window closed) and more time: more windows close.
	produce(t, cl, append([][]byte{rides(1, time.Minute, 2*time.Minute)[0]}, rides(30, 20*time.Minute, 40*time.Minute)...))
	waitFor(t, j, "late row counted and more windows committed", func(f map[string]*dto.MetricFamily) bool {
		return sum(f, "window_late_rows_total") >= 1 && sum(f, "delta_commits_total") > sum(s2, "delta_commits_total") &&
			sum(f, "input_received") >= 63+60+31
	})
	// Every record is read; take the final scrape once the window's gauges
	// are the same in two scrapes in a row (no batch half-way through).
	var prev [2]float64
	s3 := waitFor(t, j, "window gauges settled", func(f map[string]*dto.MetricFamily) bool {
		cur := [2]float64{sum(f, "window_watermark_ms"), sum(f, "window_max_event_time_ms")}
		settled := cur == prev
		prev = cur
		return settled
	})

	t.Run("key series move", func(t *testing.T) {
		inc := func(name string, a, b map[string]*dto.MetricFamily, match ...string) {
			t.Helper()
			if x, y := sum(a, name, match...), sum(b, name, match...); !(y > x) {
				t.Errorf("%s%v did not rise: %v then %v", name, match, x, y)
			}
		}
		inc("input_received", s1, s3)
		inc("kafka_input_records_total", s1, s3, "topic", "rides")
		inc("kafka_input_bytes_total", s1, s3, "topic", "rides")
		inc("window_watermark_ms", s1, s2)
		inc("window_watermark_ms", s2, s3)
		inc("window_max_event_time_ms", s1, s3)
		inc("window_emitted_rows_total", s1, s3)
		inc("delta_commits_total", s1, s3)
		inc("delta_rows_written_total", s1, s3)
		inc("delta_table_version", s2, s3)
		if got := sum(s3, "kafka_input_records_total"); got != 63+60+31 {
			t.Errorf("kafka_input_records_total = %v, want every produced record (154)", got)
		}
		if got := sum(s3, "dead_letter_rows_total", "reason", "bad_json"); got < 1 {
			t.Errorf("dead_letter_rows_total{reason=bad_json} = %v", got)
		}
		if got := sum(s3, "kafka_output_records_total", "topic", "rides_dlq"); got < 3 {
			t.Errorf("kafka_output_records_total{topic=rides_dlq} = %v, want the 3 dead letters", got)
		}
		if sum(s3, "delta_commit_latency_seconds") < 1 {
			t.Error("delta_commit_latency_seconds histogram is empty")
		}
		// Watermark = max event time − 10 minutes (the config's delay).
		if wm, mx := sum(s3, "window_watermark_ms"), sum(s3, "window_max_event_time_ms"); mx-wm != float64(10*time.Minute/time.Millisecond) {
			t.Errorf("watermark %v, max event time %v: want a 10-minute gap", wm, mx)
		}
	})

	t.Run("dashboard and alert metrics are exposed", func(t *testing.T) {
		final := scrape(j.scrapeURL)
		exposed := map[string]bool{}
		for n := range final {
			exposed[familyName(n)] = true
			exposed[n] = true
		}
		src := pluginSources(t)
		for name, where := range referencedMetrics(t) {
			switch {
			case exposed[name]:
			case name == "up":
				// Written by Prometheus itself for every target.
			case failureOnly[name] != "" && strings.Contains(src, `"`+strings.TrimSuffix(name, "_seconds")):
				// Zero-until-it-happens series: checked statically (the name is emitted by a plugin).
				t.Logf("%s not exposed in a healthy run (%s); emitted in plugin source", name, failureOnly[name])
			default:
				t.Errorf("%s (used by %v) is not exposed by the running job", name, where)
			}
		}
	})

	if prom != nil {
		t.Run("real Prometheus: dashboard queries and alert rules", func(t *testing.T) {
			prom.check(t, scrape(j.scrapeURL))
		})
	}

	stop()
	t.Run("progress events", func(t *testing.T) {
		var started, progressed, terminated bool
		var maxRows float64
		var lastSink map[string]any
		sc := bufio.NewScanner(strings.NewReader(j.logs.String()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			ev := progressEvent(sc.Text())
			switch ev["event"] {
			case "started":
				started = true
			case "progress":
				progressed = true
				if n, _ := ev["numInputRows"].(float64); n > maxRows {
					maxRows = n
				}
				if s, ok := ev["sink"].(map[string]any); ok {
					lastSink = s
				}
			case "terminated":
				terminated = true
			}
		}
		if !started || !progressed || !terminated {
			t.Fatalf("started %v, progress %v, terminated %v in the job's log:\n%s", started, progressed, terminated, tail(j.logs.String(), 20))
		}
		if maxRows <= 0 {
			t.Error("no progress event counted input rows")
		}
		if v, _ := lastSink["version"].(float64); v < 1 {
			t.Errorf("last progress sink = %v, want the Delta table version", lastSink)
		}
	})
}

// failureOnly lists the referenced series a healthy run does not create: a
// Benthos counter appears at its first increment, and these only move when
// something goes wrong (or is replayed). Value: why.
var failureOnly = map[string]string{
	"delta_commit_failures_total":     "a commit failing for good",
	"delta_commit_retries_total":      "a commit retried",
	"delta_commit_conflicts_total":    "a commit conflict",
	"delta_rows_invalid_total":        "a row not fitting the schema",
	"delta_rows_skipped_total":        "an idempotent replay",
	"window_invalid_rows_total":       "a row without usable event time reaching the window",
	"window_replayed_rows_total":      "a replayed offset",
	"kafka_input_offset_resets_total": "an out-of-range committed offset",
	"kafka_input_paused_partitions":   "checkpoint_limit reached",
}

func pluginSources(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(filepath.Join(root, "plugins"), func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			data, _ := os.ReadFile(p)
			b.Write(data)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// progressEvent extracts a progress event from a log line: a bare JSON event
// (progress_output stdout/stderr) or a JSON log record whose message is one.
func progressEvent(line string) map[string]any {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return nil
	}
	if _, ok := m["runId"]; ok {
		return m
	}
	for _, k := range []string{"msg", "message"} {
		if s, ok := m[k].(string); ok && strings.HasPrefix(s, "{") {
			var ev map[string]any
			if json.Unmarshal([]byte(s), &ev) == nil {
				if _, ok := ev["runId"]; ok {
					return ev
				}
			}
		}
	}
	return nil
}

func registered(kind, name string) bool {
	env := service.GlobalEnvironment()
	found := false
	walk := map[string]func(func(string, *service.ConfigView)){
		"input":     env.WalkInputs,
		"processor": env.WalkProcessors,
		"output":    env.WalkOutputs,
		"cache":     env.WalkCaches,
	}[kind]
	walk(func(n string, _ *service.ConfigView) { found = found || n == name })
	return found
}

func nonProgress(logs string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if progressEvent(l) == nil {
			out = append(out, l)
		}
	}
	return tail(strings.Join(out, "\n"), 40)
}
