package observability

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
	// The watermark must move past phase 2's: with a stage 2 (config/rides.yaml)
	// a commit of phase 2's later windows can come before phase 3's bundles
	// are merged, so more commits alone do not mean phase 3 is through.
	waitFor(t, j, "late row counted, more windows committed, the watermark past phase 2's", func(f map[string]*dto.MetricFamily) bool {
		return sum(f, "window_late_rows_total") >= 1 && sum(f, "delta_commits_total") > sum(s2, "delta_commits_total") &&
			sum(f, "input_received") >= 63+60+31 && sum(f, "window_watermark_ms") > sum(s2, "window_watermark_ms")
	})
	// Every record is read; take the final scrape once the window's gauges
	// are the same in two scrapes in a row (no batch half-way through) and
	// a window state was written (stage local writes its states at the
	// input's offset commits, every second: the state gauges come then).
	var prev [2]float64
	s3 := waitFor(t, j, "window gauges settled", func(f map[string]*dto.MetricFamily) bool {
		cur := [2]float64{sum(f, "window_watermark_ms"), sum(f, "window_max_event_time_ms")}
		settled := cur == prev
		prev = cur
		return settled && f["window_state_bytes"] != nil && f["window_checkpoint_latency_seconds"] != nil
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
		// The source topic's records only: a two-stage config reads its internal topic too.
		if got := sum(s3, "kafka_input_records_total", "topic", "rides"); got != 63+60+31 {
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
		// Watermark = the slowest partition's max event time − 10 minutes (the
		// config's delay), so at least 10 minutes below the max over partitions.
		if wm, mx := sum(s3, "window_watermark_ms"), sum(s3, "window_max_event_time_ms"); mx-wm < float64(10*time.Minute/time.Millisecond) {
			t.Errorf("watermark %v, max event time %v: want a gap of at least 10 minutes", wm, mx)
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
			case scaleOutOnly[name] && strings.Contains(src, `"`+name+`"`):
				// config/rides.yaml runs stage full; checked statically, and by plugins/window's tests.
				t.Logf("%s not exposed by config/rides.yaml (scale-out stages only); emitted in plugin source", name)
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

// scaleOutOnly lists the series only the scale-out stages (tumbling_window
// stage partial / merge, config/rides-scaleout.yaml) expose.
var scaleOutOnly = map[string]bool{
	"window_source_max_event_time_ms":      true,
	"window_merge_watermark_ms":            true,
	"window_merge_holdback_partition":      true,
	"window_merge_holdback_behind_seconds": true,
	"window_merge_input_partials_total":    true,
	"window_merge_replayed_partials_total": true,
	"window_merge_late_partials_total":     true,
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
