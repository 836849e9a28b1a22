package realkafka

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
)

// The unchanged config/rides.yaml drains a realistic backlog from `earliest`
// on a real broker: rides spread over 6 partitions at random, disorder within
// a partition up to 5 minutes, some rides an hour behind, some records
// malformed. The table must equal the per-partition reference exactly (keys,
// counts and the doubles bit for bit), whatever the fetch timing.
// BACKLOG_RIDES sets the size (default 500 000).
func TestBacklogFromEarliestEqualsReference(t *testing.T) {
	be := needBroker(t)
	n := envInt(t, "BACKLOG_RIDES", 500_000)
	b := newBacklog(t, be, "rides-backlog", 9, n, true)

	job := newRidesJob(t, be, b.topic)
	job.start(t)
	start := time.Now()
	job.waitDrained(t, b.adm, 8*time.Minute)
	t.Logf("drained in %v", time.Since(start).Round(time.Millisecond))
	job.check(t, b.adm, b.parts, b.want, b.wantLate)
	job.stop(t)
}

// The same while a producer keeps writing, with the job SIGKILLed in the
// middle and restarted: the table is still exactly the reference's.
func TestLiveStreamWithKillEqualsReference(t *testing.T) {
	be := needBroker(t)
	n := envInt(t, "LIVE_RIDES", 150_000)
	b := newBacklog(t, be, "rides-live", 11, n, false)
	parts := b.parts

	job := newRidesJob(t, be, b.topic)
	job.start(t)
	// Ten slices of every partition, produced one after another while the job runs.
	const slices = 10
	for s := 0; s < slices; s++ {
		slice := make([][]harness.Record, len(parts))
		for p, recs := range parts {
			lo, hi := len(recs)*s/slices, len(recs)*(s+1)/slices
			slice[p] = recs[lo:hi]
		}
		produceRecords(t, be, b.topic, slice)
		if s == slices/2 {
			// Kill once the job has committed some windows mid-stream.
			job.waitVersion(t, 0, 3*time.Minute)
			job.proc.Kill()
			t.Logf("SIGKILLed the job after slice %d; restarting", s)
			job.start(t)
		}
	}
	job.waitDrained(t, b.adm, 8*time.Minute)
	job.check(t, b.adm, parts, b.want, b.wantLate)
	job.stop(t)
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q is not a positive integer", name, v)
	}
	return n
}

// produceRecords writes each partition's records to that partition, in order,
// on the PLAINTEXT listener.
func produceRecords(t *testing.T, be brokerEnv, topic string, parts [][]harness.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := harness.ProduceRecords(ctx, be.plaintext, topic, parts); err != nil {
		t.Fatal(err)
	}
}

// ridesJob is the product binary running config/rides.yaml unchanged.
type ridesJob struct {
	bin, root, conf, topic, group, table, http string
	env                                        []string
	proc                                       *harness.Process
	runs                                       int
}

// checkpoint is the job's CHECKPOINT directory.
func (j *ridesJob) checkpoint(t *testing.T) string {
	t.Helper()
	dir := ""
	for _, e := range j.env { // the last value of a variable wins
		if v, ok := strings.CutPrefix(e, "CHECKPOINT="); ok {
			dir = v
		}
	}
	if dir == "" {
		t.Fatal("the job has no CHECKPOINT")
	}
	return dir
}

func newRidesJob(t *testing.T, be brokerEnv, topic string) *ridesJob {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, err := harness.BuildBinary(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	j := &ridesJob{bin: bin, root: root, conf: filepath.Join(root, "config", "rides.yaml"), topic: topic, group: topic + "-job", table: filepath.Join(dir, "rides_agg"), http: addr}
	j.env = []string{
		"KAFKA_BOOTSTRAP=" + be.plaintext, "KAFKA_TOPIC=" + topic, "KAFKA_GROUP=" + j.group,
		"KAFKA_START=earliest", "DLQ_TOPIC=" + topic + "-dlq",
		"OUT_DELTA=" + j.table, "CHECKPOINT=" + filepath.Join(dir, "checkpoint"), "HTTP_ADDRESS=" + addr,
		// An exact table: no processing-time idleness.
		"WATERMARK_IDLE_TIMEOUT=0s",
		// The broker's SASL_SSL settings are for the other tests: plaintext here.
		"KAFKA_SASL_MECHANISM=none", "KAFKA_TLS=false", "KAFKA_USER=", "KAFKA_PASS=",
		"KAFKA_TRUSTSTORE=", "KAFKA_TRUSTSTORE_PASSWORD=",
	}
	t.Cleanup(func() {
		if j.proc != nil {
			j.proc.Kill()
		}
	})
	return j
}

func (j *ridesJob) start(t *testing.T) {
	t.Helper()
	j.runs++
	log := filepath.Join(t.TempDir(), fmt.Sprintf("job-%d.log", j.runs))
	p, err := harness.Start(j.bin, []string{"-c", j.conf}, j.env, log)
	if err != nil {
		t.Fatal(err)
	}
	j.proc = p
}

func (j *ridesJob) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	b, _ := os.ReadFile(j.proc.Log)
	t.Fatalf("%s\njob log tail:\n%s", fmt.Sprintf(format, args...), tail(string(b), 3000))
}

// waitVersion waits until the table has a version above v.
func (j *ridesJob) waitVersion(t *testing.T, v int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, got, err := harness.TableRows(context.Background(), j.table); err == nil && got > v {
			return
		}
		if j.proc.Exited() || time.Now().After(deadline) {
			j.fail(t, "the table did not pass version %d within %v (job exited: %v)", v, d, j.proc.Exited())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitDrained waits until the group has committed the end of every input
// partition, and with a stage 2 (config/rides.yaml) until stage 2 has
// merged everything stage 1 sent: every window the records closed is then in
// Delta (stage full acks an input batch only after the rows it emitted).
func (j *ridesJob) waitDrained(t *testing.T, adm *kadm.Client, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !groupDrained(adm, j.topic, j.group) {
		if j.proc.Exited() || time.Now().After(deadline) {
			j.fail(t, "input not drained within %v (job exited: %v)", d, j.proc.Exited())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !harness.HasStage2(j.conf) {
		return
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		left := harness.MergeLeft(ctx, adm, j.group, j.conf, j.http)
		cancel()
		if left == "" {
			return
		}
		if j.proc.Exited() || time.Now().After(deadline) {
			j.fail(t, "stage 2 not done within %v (job exited: %v): %s", d, j.proc.Exited(), left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// groupDrained says whether group has committed the end of every partition
// of topic.
func groupDrained(adm *kadm.Client, topic, group string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return harness.Drained(ctx, adm, group, topic)
}

// check compares the table with the reference, the late-row count with the
// job's metric, and the dead-letter topic with the malformed records.
func (j *ridesJob) check(t *testing.T, adm *kadm.Client, parts [][]harness.Record, want []harness.WindowRow, wantLate int) {
	t.Helper()
	got, version, err := harness.TableRows(context.Background(), j.table)
	if err != nil {
		t.Fatal(err)
	}
	if d := harness.DiffRows(got, want); d != "" {
		j.fail(t, "table (version %d) differs from the per-partition reference:\n%s", version, d)
	}
	malformed := 0
	for _, recs := range parts {
		for _, r := range recs {
			if r.Ride == nil {
				malformed++
			}
		}
	}
	_, dlq := endOffsets(t, adm, j.topic+"-dlq")
	if dlq < int64(malformed) {
		t.Errorf("dead-letter topic holds %d records, want at least the %d malformed ones", dlq, malformed)
	}
	m := scrapeMetrics(t, j.http)
	if j.runs == 1 {
		// One run: the metrics cover the whole input.
		if got := m["window_late_rows_total"]; got != float64(wantLate) {
			t.Errorf("window_late_rows_total = %v, want the reference's %d late rides", got, wantLate)
		}
		if got := m["dead_letter_rows_total"]; got != float64(malformed) {
			t.Errorf("dead_letter_rows_total = %v, want %d", got, malformed)
		}
	}
	if got := m["window_late_rows_closed_early_total"]; got != 0 {
		t.Errorf("window_late_rows_closed_early_total = %v, want 0 (no idleness)", got)
	}
	// config/rides.yaml's metadata_keys give the window every key it needs.
	if b, err := os.ReadFile(j.proc.Log); err == nil && strings.Contains(string(b), "records from Kafka carry no") {
		t.Errorf("the job reports missing Kafka metadata:\n%s", tail(string(b), 2000))
	}
	t.Logf("table version %d: %d windows equal to the reference; %d late rides; %d malformed records dead-lettered (topic holds %d)",
		version, len(got), wantLate, malformed, dlq)
}

func (j *ridesJob) stop(t *testing.T) {
	t.Helper()
	if err := j.proc.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
}

// scrapeMetrics sums each metric's samples over their labels.
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	m, err := harness.ScrapeMetrics(addr)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
