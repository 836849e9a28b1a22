// Package crash kills the rides-connect binary with SIGKILL at random points
// while it aggregates a Kafka topic into tumbling windows, restarts it, and
// checks that the windows written equal a run without crashes.
//
// Slow tier (builds the binary, runs processes): CRASH_TEST=1 go test ./tests/crash/
// or tests/crash/run.sh.
package crash

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	partitions = 6
	phases     = 12
	perPhase   = 800 // events per phase
	phaseSpan  = 20 * time.Minute
	cities     = "FR US DE MG UK"
)

var t0 = time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)

type ride struct {
	ts    time.Time
	city  string
	price float64
}

// rides are produced in phases of perPhase events spread over phaseSpan of
// event time; a phase is produced only once the job has committed the previous
// one. With a 25 min delay no row can then be late whatever the partition
// interleaving and batch boundaries (the max event time seen is at most the
// end of the current phase, 20 min after any of its rows' start), so the
// expected windows follow from the data alone. Windows close as phases
// advance the watermark; a last event 3 h later on every partition (the
// watermark is the minimum over partitions) closes the rest.
func rides(seed int64) [][]ride {
	rng := rand.New(rand.NewSource(seed))
	cs := strings.Fields(cities)
	var out [][]ride
	for p := 0; p < phases; p++ {
		var phase []ride
		for i := 0; i < perPhase; i++ {
			ts := t0.Add(time.Duration(p)*phaseSpan + time.Duration(rng.Int63n(int64(phaseSpan))))
			phase = append(phase, ride{ts, cs[rng.Intn(len(cs))], float64(rng.Intn(5000)) / 100})
		}
		out = append(out, phase)
	}
	last := make([]ride, partitions) // round robin: one per partition
	for i := range last {
		last[i] = ride{t0.Add(phases*phaseSpan + 3*time.Hour), "ZZ", 1}
	}
	return append(out, last)
}

type row struct {
	City     string  `json:"city"`
	Revenue  float64 `json:"revenue"`
	Cnt      int64   `json:"cnt"`
	Start    string  `json:"window_start"`
	End      string  `json:"window_end"`
	WindowID string  `json:"window_id"`
	Seq      int64   `json:"seq"`
}

func (r row) key() string { return r.Start + " " + r.City }

// expected computes the closed windows from the data, independently of the engine.
func expected(phased [][]ride) map[string]row {
	out := map[string]row{}
	for _, r := range slices.Concat(phased[:len(phased)-1]...) {
		s := r.ts.Truncate(time.Minute)
		x := row{City: r.city, Start: s.Format("2006-01-02T15:04:05.000Z"), End: s.Add(time.Minute).Format("2006-01-02T15:04:05.000Z")}
		prev := out[x.key()]
		x.Cnt, x.Revenue = prev.Cnt+1, prev.Revenue+r.price
		out[x.key()] = x
	}
	return out
}

const configYAML = `
http:
  enabled: false
logger:
  level: ${CRASH_LOG_LEVEL:WARN}
metrics:
  none: {}
input:
  broker:
    inputs:
      - kafka_franz:
          seed_brokers: [ "%[1]s" ]
          topics: [ "%[4]s" ]
          consumer_group: "%[4]s"
          # Static membership, as config/rides.yaml runs: a restart takes the
          # killed process's place at once. With dynamic members, kfake (this
          # version) keeps a member killed while parked in JoinGroup forever: it
          # stops the member's timer at its second join and starts none when the
          # reply to its dead connection fails, so a live leader keeps only its
          # share of the partitions (about 1 run in 6 stalled). A real broker
          # expires such members (tests/realkafka/recovery_test.go restarts a
          # dynamic member after SIGKILL).
          instance_id: "%[4]s-0"
          start_offset: earliest
          commit_period: 100ms
          session_timeout: 1s
          heartbeat_interval: 200ms
          rebalance_timeout: 2s
          fetch_max_wait: 100ms
          batching:
            count: 40
            period: 20ms
      - generate:
          interval: 50ms
          mapping: |
            root = {}
            meta window_heartbeat = true
pipeline:
  threads: %[5]d
  processors:
    - tumbling_window:
        timestamp: this.ts
        size: 1m
        watermark:
          delay: 25m
        group_by:
          city: this.city
        aggregates:
          revenue: { op: sum, value: this.price }
          cnt: { op: count }
        state:
          cache: window_state
          key: crash
          sync: %[6]s
    - mapping: |
        root = this
        root.window_id = @window_id
        root.seq = @window_emit_seq
output:
  switch:
    cases:
      - check: errored()
        output:
          drop: {}
      - output:
          file:
            path: "%[2]s"
            codec: lines
cache_resources:
  - label: window_state
    checkpoint:
      url: "%[3]s"
`

// needCrashTier skips, saying so, unless the slow tier was asked for: `go
// test ./...` then reports SKIP with the reason instead of a silent "ok".
func needCrashTier(t *testing.T) {
	t.Helper()
	if os.Getenv("CRASH_TEST") == "" {
		t.Skip("crash tier: builds the binary and runs processes; set CRASH_TEST=1 or run tests/crash/run.sh (make test-crash)")
	}
}

// buildBinary builds cmd/rides-connect into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rides-connect")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/rides-connect")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startKafka(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.GroupMinSessionTimeout(500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func createTopic(t *testing.T, addr, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// feed produces the phases to topic, each once the consumer group (named as
// the topic) has committed everything before it. It runs beside the job and
// its crashes; the error, if any, arrives on the returned channel.
func feed(addr, topic string, phased [][]ride) <-chan error {
	done := make(chan error, 1)
	go func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		if err != nil {
			done <- err
			return
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for _, phase := range phased {
			var recs []*kgo.Record
			for _, r := range phase {
				v, _ := json.Marshal(map[string]any{"city": r.city, "price": r.price, "ts": r.ts.Format(time.RFC3339Nano)})
				recs = append(recs, &kgo.Record{Value: v})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				done <- err
				return
			}
			for !drained(ctx, adm, topic) {
				if ctx.Err() != nil {
					done <- fmt.Errorf("topic %s not drained: %w", topic, ctx.Err())
					return
				}
				time.Sleep(50 * time.Millisecond) // polling the group's commits
			}
		}
		done <- nil
	}()
	return done
}

// drained reports whether the group named topic committed every partition's end.
func drained(ctx context.Context, adm *kadm.Client, topic string) bool {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false
	}
	offs, err := adm.FetchOffsets(ctx, topic)
	if err != nil {
		return false
	}
	ok := true
	ends.Each(func(e kadm.ListedOffset) {
		if c, found := offs.Lookup(topic, e.Partition); e.Offset > 0 && (!found || c.At < e.Offset) {
			ok = false
		}
	})
	return ok
}

// job is one deployment: a config, a state dir and an output file, run by
// successive processes.
type job struct {
	bin, cfg, out string
	proc          *exec.Cmd
	exited        chan struct{}
	logs          *os.File
}

func newJob(t *testing.T, bin, addr, name string, threads int) *job {
	return newJobSync(t, bin, addr, name, threads, "batch")
}

// newJobSync is newJob with the window's state.sync.
func newJobSync(t *testing.T, bin, addr, name string, threads int, sync string) *job {
	dir := filepath.Join(t.TempDir(), name)
	createTopic(t, addr, name)
	// Each job has its own topic and consumer group (both named name).
	return jobIn(t, bin, dir, func(out string) string {
		return fmt.Sprintf(configYAML, addr, out, filepath.Join(dir, "state"), name, threads, sync)
	})
}

// jobIn is a job whose files are in dir: its config (config(out), out being
// its output file), output and process log; the test's cleanup kills it.
func jobIn(t *testing.T, bin, dir string, config func(out string) string) *job {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	j := &job{bin: bin, cfg: filepath.Join(dir, "job.yaml"), out: filepath.Join(dir, "out.jsonl")}
	if err := os.WriteFile(j.cfg, []byte(config(j.out)), 0o644); err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(dir, "process.log"))
	if err != nil {
		t.Fatal(err)
	}
	j.logs = logs
	t.Cleanup(func() { j.kill(); logs.Close() })
	return j
}

func (j *job) start(t *testing.T) {
	t.Helper()
	dropTornTail(t, j.out)
	j.proc = exec.Command(j.bin, "-c", j.cfg) // a lint error stops it: the config must be clean
	j.proc.Stdout, j.proc.Stderr = j.logs, j.logs
	if err := j.proc.Start(); err != nil {
		t.Fatal(err)
	}
	j.exited = make(chan struct{})
	go func(p *exec.Cmd, done chan struct{}) { _ = p.Wait(); close(done) }(j.proc, j.exited)
}

// dropTornTail cuts a last line without its newline off the output: the
// previous process was killed between the file output's writes of a row and
// its newline, so the row was never acked and will be emitted again; the
// next process appends, and would otherwise glue its first row to it.
func dropTornTail(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) || (err == nil && (len(data) == 0 || data[len(data)-1] == '\n')) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(bytes.LastIndexByte(data, '\n')+1)); err != nil {
		t.Fatal(err)
	}
}

// kill sends SIGKILL to the process this job started, by its PID.
func (j *job) kill() {
	if j.proc == nil || j.proc.Process == nil {
		return
	}
	_ = j.proc.Process.Signal(syscall.SIGKILL)
	<-j.exited
	j.proc = nil
}

// read returns every complete output line; a torn last line (the process was
// killed mid-write, so the message was never acked) is ignored.
func (j *job) read(t *testing.T) []row {
	t.Helper()
	f, err := os.Open(j.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	var torn error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if torn != nil {
			t.Fatalf("unparsable output line before the last one: %v", torn)
		}
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.WindowID == "" || r.Seq == 0 {
			torn = fmt.Errorf("%q: %v", sc.Text(), err)
			continue
		}
		rows = append(rows, r)
	}
	return rows
}

// pollUntil polls cond every interval (another process's state, not time
// passing) until it holds (true) or within has passed (false); the test
// fails at once if the process exits meanwhile.
func (j *job) pollUntil(t *testing.T, within, every time.Duration, cond func() bool) bool {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); {
		if cond() {
			return true
		}
		select {
		case <-j.exited:
			logs, _ := os.ReadFile(j.logs.Name())
			t.Fatalf("rides-connect exited early; log:\n%s", logs)
		default:
		}
		time.Sleep(every)
	}
	return false
}

// waitForWork polls until the running process has written a checkpoint (it
// has been assigned partitions and is processing); after 20 s the test fails,
// since a kill before any work would test nothing.
func (j *job) waitForWork(t *testing.T) {
	t.Helper()
	state := filepath.Join(filepath.Dir(j.cfg), "state", "crash")
	before := time.Time{}
	if fi, err := os.Stat(state); err == nil {
		before = fi.ModTime()
	}
	if j.pollUntil(t, 20*time.Second, 10*time.Millisecond, func() bool {
		fi, err := os.Stat(state)
		return err == nil && fi.ModTime().After(before)
	}) {
		return
	}
	logs, _ := os.ReadFile(j.logs.Name())
	t.Fatalf("no checkpoint written within 20 s of the start (partitions never assigned?); log:\n%s", logs)
}

// waitFor polls the output until it holds n distinct windows.
func (j *job) waitFor(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	if j.pollUntil(t, timeout, 50*time.Millisecond, func() bool { return len(distinct(t, j.read(t))) >= n }) {
		return
	}
	logs, _ := os.ReadFile(j.logs.Name())
	state, _ := os.ReadFile(filepath.Join(filepath.Dir(j.cfg), "state", "crash"))
	t.Fatalf("output has %d of %d windows after %v; state %.600s; process log:\n%s", len(distinct(t, j.read(t))), n, timeout, state, logs)
}

// distinct checks that repeats of a window are identical (same values, same
// id and seq) and returns one row per window.
func distinct(t *testing.T, rows []row) map[string]row {
	t.Helper()
	out := map[string]row{}
	for _, r := range rows {
		if prev, ok := out[r.key()]; ok && prev != r {
			t.Fatalf("window %s emitted twice differently:\n%+v\n%+v", r.key(), prev, r)
		}
		out[r.key()] = r
	}
	return out
}

func compare(t *testing.T, what string, got, want map[string]row) {
	t.Helper()
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			diffs = append(diffs, "missing "+k)
			continue
		}
		if g.Cnt != w.Cnt || math.Abs(g.Revenue-w.Revenue) > 1e-9*math.Max(1, math.Abs(w.Revenue)) || g.End != w.End {
			diffs = append(diffs, fmt.Sprintf("%s: got cnt %d revenue %v, want cnt %d revenue %v", k, g.Cnt, g.Revenue, w.Cnt, w.Revenue))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "unexpected "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s: %d differences, first: %v", what, len(diffs), diffs[:min(10, len(diffs))])
	}
}

func TestSIGKILLRestartsGiveTheNoCrashWindows(t *testing.T) {
	needCrashTier(t)
	bin := buildBinary(t)
	data := rides(42)
	want := expected(data)
	addr := startKafka(t)

	// The run without crashes.
	clean := newJob(t, bin, addr, "clean", 1)
	fed := feed(addr, "clean", data)
	clean.start(t)
	clean.waitFor(t, len(want), waitTimeout())
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	clean.kill()
	cleanRows := distinct(t, clean.read(t))
	compare(t, "no-crash run vs the data", cleanRows, want)

	// The same job killed with SIGKILL at random points and restarted, while
	// the phases keep coming: with one pipeline thread, and with two (batches
	// then share checkpoint writes and reach the window out of order); with
	// the state written before every batch's release (state.sync: batch) and
	// only before emissions and offset commits (commit, config/rides.yaml's).
	for _, sync := range []string{"batch", "commit"} {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("sync=%s/threads=%d", sync, threads), func(t *testing.T) {
				crashRun(t, bin, addr, fmt.Sprintf("crashy%s%d", sync, threads), threads, sync, data, len(want), cleanRows)
			})
		}
	}
}

func crashRun(t *testing.T, bin, addr, name string, threads int, sync string, data [][]ride, windows int, cleanRows map[string]row) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("kill seed %d", seed)
	crashy := newJobSync(t, bin, addr, name, threads, sync)
	fed := feed(addr, name, data)
	for k := 0; k < 8; k++ {
		crashy.start(t)
		crashy.waitForWork(t)
		time.Sleep(time.Duration(rng.Intn(600)) * time.Millisecond) // a random kill point once it works
		crashy.kill()
		rows := crashy.read(t)
		t.Logf("kill %d: %d rows written so far, %d of %d windows", k+1, len(rows), len(distinct(t, rows)), windows)
	}
	crashy.start(t)
	crashy.waitFor(t, windows, waitTimeout())
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	crashy.kill()
	all := crashy.read(t)
	crashRows := distinct(t, all)
	compare(t, "crash run vs no-crash run", crashRows, cleanRows)
	for k, r := range crashRows {
		if c := cleanRows[k]; c.WindowID != r.WindowID {
			t.Errorf("window %s: id %s, no-crash id %s", k, r.WindowID, c.WindowID)
		}
	}
	t.Logf("%d windows over %d partitions; the crash run wrote %d rows (%d repeats, all identical)", len(crashRows), partitions, len(all), len(all)-len(crashRows))
}

func waitTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CRASH_WAIT")); err == nil {
		return d
	}
	return 90 * time.Second
}
