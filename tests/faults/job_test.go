package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
)

// job is the product binary running config/rides.yaml (or FAULT_CONFIG) unchanged, restarted
// after every SIGKILL; it samples its RSS while it runs.
type job struct {
	name, bin, root, topic, group, table, http, dir string
	env                                             []string

	mu     sync.Mutex
	proc   *harness.Process
	runs   int
	maxRSS int64 // KiB, over every run
	// skipped sums, over every run, the rows Delta skipped as already
	// committed and the dead-letter records not sent again (scraped just
	// before each SIGKILL and at the end: a lower bound).
	deltaSkipped, dlqSkipped float64
	stopS                    chan struct{}
}

func newJob(t *testing.T, name, bin, root, topic string, env []string, table string) *job {
	dir := t.TempDir()
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	j := &job{name: name, bin: bin, root: root, topic: topic, group: topic + "-" + name, table: table, http: addr, dir: dir, stopS: make(chan struct{})}
	j.env = append([]string{
		"KAFKA_TOPIC=" + topic, "KAFKA_GROUP=" + j.group, "KAFKA_START=earliest",
		"DLQ_TOPIC=" + topic + "-dlq-" + name, "HTTP_ADDRESS=" + addr,
		"WATERMARK_IDLE_TIMEOUT=0s", "LOG_LEVEL=INFO",
		"KAFKA_SASL_MECHANISM=none", "KAFKA_TLS=false", "KAFKA_USER=", "KAFKA_PASS=",
		"KAFKA_TRUSTSTORE=", "KAFKA_TRUSTSTORE_PASSWORD=",
	}, env...)
	go j.sampleRSS()
	t.Cleanup(func() {
		close(j.stopS)
		if p := j.process(); p != nil {
			p.Kill()
		}
	})
	return j
}

func (j *job) process() *harness.Process {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.proc
}

func (j *job) start(t *testing.T) {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.runs++
	log := filepath.Join(j.dir, fmt.Sprintf("%s-%d.log", j.name, j.runs))
	p, err := harness.Start(j.bin, []string{"-c", filepath.Join(j.root, jobConfig())}, j.env, log)
	if err != nil {
		t.Fatal(err)
	}
	j.proc = p
}

// jobConfig is the config every job runs, relative to the repository:
// config/rides.yaml, or FAULT_CONFIG (e.g. config/rides-single.yaml, the
// single-process job, docs/scale-out.md).
func jobConfig() string {
	if c := os.Getenv("FAULT_CONFIG"); c != "" {
		return c
	}
	return filepath.Join("config", "rides.yaml")
}

// kill SIGKILLs the job and starts it again at once.
func (j *job) kill(t *testing.T) {
	t.Helper()
	j.scrapeSkipped()
	j.process().Kill()
	j.start(t)
}

func (j *job) sampleRSS() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-j.stopS:
			return
		case <-tick.C:
		}
		if p := j.process(); p != nil && !p.Exited() {
			if kib, err := harness.RSSKiB(p.PID()); err == nil {
				j.mu.Lock()
				j.maxRSS = max(j.maxRSS, kib)
				j.mu.Unlock()
			}
		}
	}
}

func (j *job) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	var b []byte
	if p := j.process(); p != nil {
		b, _ = os.ReadFile(p.Log)
	}
	t.Fatalf("%s: %s\njob log tail:\n%s", j.name, fmt.Sprintf(format, args...), tail(string(b), 40))
}

// committed is the sum of the group's committed offsets over the input.
func (j *job) committed(ctx context.Context, adm *kadm.Client) (int64, error) {
	resp, err := adm.FetchOffsets(ctx, j.group)
	if err != nil {
		return 0, err
	}
	var n int64
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == j.topic && o.Err == nil && o.At > 0 {
			n += o.At
		}
	})
	return n, nil
}

// waitCommitted waits until the group committed at least n input records.
// The job must not exit on its own: a fault is to be survived, not crashed on.
func (j *job) waitCommitted(t *testing.T, adm *kadm.Client, n int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := j.committed(ctx, adm)
		cancel()
		if err == nil && c >= n {
			return
		}
		if p := j.process(); p.Exited() {
			j.fail(t, "the job exited by itself while waiting for %d committed records", n)
		}
		if time.Now().After(deadline) {
			j.fail(t, "the group committed %d of %d records within %v (last error %v)", c, n, d, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// waitMerged waits, for a config with a stage 2 (config/rides.yaml), until
// stage 2 has merged everything stage 1 committed (harness.MergeLeft): a
// CI run of session 30 stopped the job on stage 1's commits alone, with 200
// of 272 windows written.
func (j *job) waitMerged(t *testing.T, adm *kadm.Client, d time.Duration) {
	t.Helper()
	if !harness.HasStage2(filepath.Join(j.root, jobConfig())) {
		return
	}
	start := time.Now()
	for deadline := start.Add(d); ; time.Sleep(100 * time.Millisecond) { // polling the job
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		left := harness.MergeLeft(ctx, adm, j.group, filepath.Join(j.root, jobConfig()), j.http)
		cancel()
		if left == "" {
			t.Logf("%s: stage 2 done %v after stage 1's last commit", j.name, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			j.fail(t, "stage 2 not done within %v: %s", d, left)
		}
	}
}

// waitMoved waits until the committed offsets pass from and returns when.
func (j *job) waitMoved(t *testing.T, adm *kadm.Client, from int64, d time.Duration) time.Time {
	t.Helper()
	j.waitCommitted(t, adm, from+1, d)
	return time.Now()
}

func (j *job) scrapeSkipped() {
	if m, err := harness.ScrapeMetrics(j.http); err == nil {
		j.mu.Lock()
		j.deltaSkipped += m["delta_rows_skipped_total"]
		j.dlqSkipped += m["kafka_output_records_skipped_total"]
		j.mu.Unlock()
	}
}

func (j *job) stop(t *testing.T) {
	t.Helper()
	j.scrapeSkipped()
	if err := j.process().Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
}

func (j *job) rssMiB() float64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return float64(j.maxRSS) / 1024
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
