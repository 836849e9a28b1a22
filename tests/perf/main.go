// Command perf makes the process-level measurements of issue 11 that a
// `go test -bench` cannot: rides-connect on config/rides.yaml (unchanged, env
// only) against a real Kafka broker (tests/perf/run.sh starts one).
//
//	perf rss     -brokers B -bin BIN -work DIR [-n 10000000] [-variants a=BIN:CONF,b=BIN:CONF -reps R]
//	    prefills n rides shaped like harness.DefaultBacklog (streamed, never all in
//	    memory), drains them and reports the job's peak RSS (VmHWM, and VmRSS sampled
//	    from /proc every 100 ms), with a heap profile and its top users; -cpuprofile S
//	    adds an S-second CPU profile (cpu.pb.gz) and an allocs profile (allocs-end.pb.gz).
//	    -variants drains the same topic with each binary+config in turn, -reps times
//	    (a b a b ...), each in its own consumer group and DIR/<name>-<rep>: an A/B in one run.
//	perf latency -brokers B -bin BIN -work DIR [-rate 50000 -duration 60s -factor 100]
//	    a live stream at -rate rides/s whose event time runs -factor times faster than
//	    the wall clock; reports how long closed windows take to reach Delta.
//
// Results are printed as Markdown and JSON (also written to DIR/result.json).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
)

type common struct {
	brokers, bin, work, config string
	timeout                    time.Duration
	// ridesOnly ends an rss drain once every ride is in (aggregated, late
	// or dead-lettered), not at the last Delta row: for variants that
	// write no table (a scale-out job cut after stage 1, to split its cost).
	ridesOnly bool
	// malformed is the share of malformed records in the rss backlog (<0:
	// harness.DefaultBacklog's).
	malformed float64
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "rss" && os.Args[1] != "latency") {
		fmt.Fprintln(os.Stderr, "usage: perf rss|latency -brokers B -bin BIN -work DIR [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	var c common
	fs.StringVar(&c.brokers, "brokers", os.Getenv("KAFKA_PLAINTEXT"), "Kafka bootstrap (PLAINTEXT)")
	fs.StringVar(&c.bin, "bin", "bin/rides-connect", "rides-connect binary")
	fs.StringVar(&c.work, "work", "", "directory for the table, checkpoint, logs and results")
	fs.StringVar(&c.config, "config", "config/rides.yaml", "job config (the shipped one)")
	fs.DurationVar(&c.timeout, "timeout", 40*time.Minute, "fail if the measurement takes longer")
	n := fs.Int("n", 10_000_000, "rss: rides to prefill and drain")
	variants := fs.String("variants", "", "rss: name=bin:config,... drained in turn from the same prefilled topic (default: -bin with -config)")
	fs.BoolVar(&c.ridesOnly, "rides-only", false, "rss: the drain ends once every ride is in, CPU read there (not at the last Delta row): for variants without a table")
	fs.Float64Var(&c.malformed, "malformed", -1, "rss: share of malformed records in the backlog (default: harness.DefaultBacklog's, 1 in 250; make bench-spark's has none)")
	reps := fs.Int("reps", 1, "rss: drains per variant, alternating")
	cpuProfile := fs.Int("cpuprofile", 0, "rss: seconds of CPU profile to take once 10 % of the rides are in (0: none); also an allocs profile at the end")
	rate := fs.Int("rate", 50_000, "latency: rides per second")
	dur := fs.Duration("duration", 60*time.Second, "latency: how long to produce")
	factor := fs.Int("factor", 100, "latency: event-time seconds per wall-clock second (100: a 5-minute window closes every 3 s)")
	warmup := fs.Duration("warmup", 10*time.Second, "latency: windows closed this soon after the start are not counted")
	_ = fs.Parse(os.Args[2:])
	if c.brokers == "" || c.work == "" {
		fmt.Fprintln(os.Stderr, "perf: -brokers and -work are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var res any
	var err error
	if mode == "rss" {
		var vs []variant
		if vs, err = parseVariants(*variants, variant{"this", c.bin, c.config}); err == nil {
			res, err = runRSS(ctx, c, vs, *reps, *n, *cpuProfile)
		}
	} else {
		res, err = runLatency(ctx, c, *rate, *dur, *factor, *warmup)
	}
	if res != nil {
		b, _ := json.MarshalIndent(res, "", " ")
		fmt.Println(string(b))
		_ = os.WriteFile(filepath.Join(c.work, "result.json"), b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		os.Exit(1)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// createTopics makes the rides topic (6 partitions) and dead-letter topics (1 partition).
func createTopics(ctx context.Context, brokers, topic string, dlqs ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	parts := map[string]int32{}
	if topic != "" {
		parts[topic] = 6
	}
	for _, t := range dlqs {
		parts[t] = 1
	}
	for t, p := range parts {
		r, err := adm.CreateTopic(ctx, p, 1, nil, t)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return fmt.Errorf("creating %s: %w", t, err)
		}
	}
	return nil
}

// producer returns a client that writes to the partition each record names.
func producer(brokers string) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(brokers), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(200_000), kgo.ProducerBatchCompression(kgo.NoCompression()))
}

// job is rides-connect on the config, pointed at this broker and work dir.
type job struct {
	p    *harness.Process
	addr string
}

func startJob(c common, topic, group, dlq string, extraArgs ...string) (*job, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{
		"KAFKA_BOOTSTRAP=" + c.brokers, "KAFKA_TOPIC=" + topic, "KAFKA_GROUP=" + group,
		"KAFKA_START=earliest", "DLQ_TOPIC=" + dlq, "HTTP_ADDRESS=" + addr, "LOG_LEVEL=" + cmp.Or(os.Getenv("PERF_LOG_LEVEL"), "WARN"),
		"OUT_DELTA=" + filepath.Join(c.work, "table"), "CHECKPOINT=" + filepath.Join(c.work, "checkpoint"),
		// PLAINTEXT whatever the caller's environment says.
		"KAFKA_TLS=false", "KAFKA_SASL_MECHANISM=none", "KAFKA_TRUSTSTORE=", "KAFKA_USER=", "KAFKA_PASS=",
	}
	args := append([]string{"-c", c.config}, extraArgs...)
	p, err := harness.Start(c.bin, args, env, filepath.Join(c.work, "job.log"))
	if err != nil {
		return nil, err
	}
	return &job{p: p, addr: addr}, nil
}

func (j *job) stop() { _ = j.p.Stop(30 * time.Second) }

// metrics scrapes /metrics (nil while the server is not up yet).
func (j *job) metrics() map[string]*dto.MetricFamily {
	resp, err := http.Get("http://" + j.addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil
	}
	return mfs
}

// get fetches a debug endpoint into path.
func (j *job) get(url, path string) error {
	resp, err := http.Get("http://" + j.addr + url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// sum adds a counter's or gauge's values over all label sets.
func sum(mfs map[string]*dto.MetricFamily, name string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	t := 0.0
	for _, m := range mf.Metric {
		switch {
		case m.Counter != nil:
			t += m.Counter.GetValue()
		case m.Gauge != nil:
			t += m.Gauge.GetValue()
		case m.Untyped != nil:
			t += m.Untyped.GetValue()
		}
	}
	return t
}

// ridesIn is the rides aggregated or counted late by the windows that read
// them (a scale-out stage merge counts its partials under names of its own).
func ridesIn(m map[string]*dto.MetricFamily, names ...string) float64 {
	if len(names) == 0 {
		names = []string{"window_input_rows_total", "window_late_rows_total"}
	}
	t := 0.0
	for _, name := range names {
		t += sum(m, name)
	}
	return t
}

// ridesLate is the rides counted late by the windows that read them (see ridesIn).
func ridesLate(m map[string]*dto.MetricFamily) float64 {
	return ridesIn(m, "window_late_rows_total")
}

// settleFor is how long a drained job must write no new Delta row for its
// drain to be over.
const settleFor = 3 * time.Second

// allIn: every ride aggregated or counted late, every malformed record
// dead-lettered.
func allIn(m map[string]*dto.MetricFamily, valid, malformed int) bool {
	return ridesIn(m) >= float64(valid) && sum(m, "dead_letter_rows_total") >= float64(malformed)
}

// drained: every ride aggregated or counted late, every malformed record
// dead-lettered, every emitted row committed to Delta.
func drained(m map[string]*dto.MetricFamily, valid, malformed int) bool {
	return allIn(m, valid, malformed) &&
		sum(m, "window_emitted_rows_total") > 0 &&
		sum(m, "delta_rows_written_total")+sum(m, "delta_rows_skipped_total") >= sum(m, "window_emitted_rows_total")
}
