// Package bronze is the end-to-end test of config/bronze.yaml: the
// rides-connect binary against a real Apache Kafka broker over SASL_SSL, killed
// with SIGKILL mid-stream, restarted as two replicas of one consumer group; the
// bronze table must then hold every well-formed record exactly once, as read
// by our reader, delta-rs and DuckDB, with partition pruning by day.
//
// Run it with tests/bronze/run.sh (starts the broker, installs the readers);
// without a broker (KAFKA_SASL_SSL unset) it skips.
package bronze

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// pos is a record's place in Kafka.
type pos struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

const (
	partitions = 3
	goodRides  = 6000
	badEvery   = 500 // every 500th record is malformed: 12 bad ones among 6012
)

var days = []string{"2026-03-13", "2026-03-14", "2026-03-15"}

// record i: a good ride on days[i%3] (UTC, written with a +02:00 offset for
// one day in three so that the UTC day differs from the local one), or a
// malformed record when i%badEvery == badEvery-1.
func record(i int) (value []byte, good bool, day string) {
	if i%badEvery == badEvery-1 {
		if i%2 == 0 {
			return []byte(fmt.Sprintf(`{"rideId":%d,`, i)), false, ""
		}
		return []byte(fmt.Sprintf(`{"rideId":%d,"userId":1,"city":"FR","distanceKm":1,"price":1,"ts":"noon"}`, i)), false, ""
	}
	d := days[i%len(days)]
	t, _ := time.Parse("2006-01-02", d)
	t = t.Add(time.Duration(i%86400) * time.Second)
	ts := t.Format("2006-01-02T15:04:05Z")
	if i%3 == 1 {
		ts = t.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05-07:00")
	}
	return []byte(fmt.Sprintf(`{"rideId":%d,"userId":%d,"city":"city%d","distanceKm":%d.5,"price":%d.25,"ts":%q}`,
		i, 1000+i%97, i%7, i%30, 3+i%40, ts)), true, d
}

type expected struct {
	Good   []pos          `json:"good"`
	Bad    []pos          `json:"bad"`
	PerDay map[string]int `json:"per_day"`
}

// produce sends records lo..hi-1 with an independent franz-go client and
// records where each landed.
func produce(t *testing.T, cl *kgo.Client, topic string, lo, hi int, want *expected) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for i := lo; i < hi; i++ {
		v, _, _ := record(i)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: v})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("producing %d..%d: %v", lo, hi, err)
	}
	for _, r := range res { // results come in completion order: the key says which record
		i, _ := strconv.Atoi(string(r.Record.Key))
		_, good, day := record(i)
		p := pos{r.Record.Partition, r.Record.Offset}
		if good {
			want.Good = append(want.Good, p)
			want.PerDay[day]++
		} else {
			want.Bad = append(want.Bad, p)
		}
	}
}

func TestBronzeExactlyOnceAcrossSIGKILL(t *testing.T) {
	be := needBroker(t)
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	python := os.Getenv("BRONZE_PYTHON")
	if python == "" {
		python = filepath.Join(repo, ".cache", "venv", "bin", "python")
	}
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("no Python with delta-rs and DuckDB at %s (tests/interop/setup.sh installs it; run.sh runs it): %v", python, err)
	}
	work := t.TempDir()
	if keep := os.Getenv("BRONZE_KEEP_DIR"); keep != "" { // to rerun check_bronze.py by hand
		work = keep
	}
	bin, err := harness.BuildBinary(repo, work)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(be.plaintext), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, dlq, group := "rides-bronze-"+suffix, "rides-bronze-dlq-"+suffix, "bronze-"+suffix
	createTopic(t, adm, topic, partitions)
	createTopic(t, adm, dlq, 1)

	table := filepath.Join(work, "bronze", "rides")
	store, err := objstore.NewLocal(table)
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string) (*harness.Process, string) {
		httpAddr, err := harness.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		env := []string{
			"KAFKA_BOOTSTRAP=" + be.saslSSL, "KAFKA_TOPIC=" + topic, "BRONZE_GROUP=" + group,
			"KAFKA_START=earliest", "KAFKA_TLS=true", "KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
			"KAFKA_USER=" + be.user, "KAFKA_PASS=" + be.pass,
			"KAFKA_TRUSTSTORE=" + be.truststore, "KAFKA_TRUSTSTORE_PASSWORD=" + be.trustPassword,
			"OUT_BRONZE=" + table, "BRONZE_DLQ_TOPIC=" + dlq, "HTTP_ADDRESS=" + httpAddr,
			// Static members, as in production: run 1's restarts and run 2's
			// first replica are one member, which rejoins at once.
			"KAFKA_INSTANCE_ID=" + instanceID(name),
			// Many small commits, so the kill lands between commits of one run.
			"BRONZE_COMMIT_ROWS=300", "BRONZE_COMMIT_PERIOD=200ms",
		}
		p, err := harness.Start(bin, []string{"-c", filepath.Join(repo, "config", "bronze.yaml")}, env,
			filepath.Join(work, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		return p, httpAddr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	want := &expected{PerDay: map[string]int{}}
	total := goodRides + goodRides/(badEvery-1)
	first := total * 6 / 10
	produced := first
	produce(t, cl, topic, 0, produced, want)

	// Run 1: SIGKILLed as soon as its first rows are committed: no graceful
	// stop, no final offset commit to the group. The kill must land
	// mid-stream, with produced records not yet in the table, and only timing
	// gives that: each partition's batch is its own commit, the next one
	// 0.3-1 s after the first, and a loaded machine can hold this test back
	// that long between seeing the first commit and the kill. A kill that
	// came after the run had written everything is therefore repeated: more
	// records, a new run 1, killed at its first commit of new rows.
	var (
		job               *harness.Process
		atKill, afterKill int
		killAttempts      = 4
		mid               bool
	)
	for attempt := 1; attempt <= killAttempts && !mid; attempt++ {
		if attempt > 1 {
			next := produced + (total-produced)/4
			produce(t, cl, topic, produced, next, want)
			produced = next
		}
		job, _ = start(fmt.Sprintf("run1-%d", attempt))
		before := afterKill
		if atKill, err = waitRows(ctx, store, func(n int) bool { return n > before }); err != nil {
			t.Fatalf("no new bronze rows before kill %d: %v\nlog:\n%s", attempt, err, tailFile(job.Log))
		}
		job.Kill()
		if afterKill, err = liveRows(ctx, store); err != nil {
			t.Fatalf("reading the table after kill %d: %v", attempt, err)
		}
		mid = afterKill < len(want.Good)
		t.Logf("SIGKILL %d with %d rows committed (%d after the kill settled) of %d produced so far; mid-stream: %v",
			attempt, atKill, afterKill, len(want.Good), mid)
	}
	if !mid {
		t.Fatalf("the kill came after run 1 had written everything (%d rows), %d times: it must land mid-stream", afterKill, killAttempts)
	}

	// Run 2: the rest of the records, and two replicas of the job in the same
	// group; the restarted one re-reads from the group's last commit.
	produce(t, cl, topic, produced, total, want)
	a, aHTTP := start("run2-a")
	b, bHTTP := start("run2-b")
	if _, err := waitRows(ctx, store, func(n int) bool { return n >= len(want.Good) }); err != nil {
		t.Fatalf("bronze table incomplete: %v\nreplica a:\n%s\nreplica b:\n%s", err, tailFile(a.Log), tailFile(b.Log))
	}
	skipped := metric(t, aHTTP, "delta_rows_skipped_total") + metric(t, bHTTP, "delta_rows_skipped_total")
	wroteA, wroteB := metric(t, aHTTP, "delta_rows_written_total"), metric(t, bHTTP, "delta_rows_written_total")
	for _, p := range []*harness.Process{a, b} {
		if err := p.Stop(20 * time.Second); err != nil {
			t.Errorf("graceful stop: %v\n%s", err, tailFile(p.Log))
		}
	}
	t.Logf("after the restart the replicas acked %v already-committed rows without writing them; they wrote %v and %v rows", skipped, wroteA, wroteB)
	if int(wroteA+wroteB) != len(want.Good)-afterKill {
		t.Errorf("the replicas wrote %v+%v rows, want the %d the killed run had not committed", wroteA, wroteB, len(want.Good)-afterKill)
	}

	// Our own reader: exactly the good records, once each.
	rows, err := delta.ReadAllRows(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[pos]int{}
	for _, r := range rows {
		seen[pos{int32(r["kafka_partition"].(int64)), r["kafka_offset"].(int64)}]++
	}
	for p, n := range seen {
		if n > 1 {
			t.Errorf("record %+v is in the table %d times", p, n)
		}
	}
	for _, p := range want.Good {
		if seen[p] == 0 {
			t.Errorf("good record %+v is missing", p)
		}
	}
	if len(rows) != len(want.Good) {
		t.Fatalf("%d rows, want %d", len(rows), len(want.Good))
	}
	checkDeadLetters(t, ctx, cl, dlq, want.Bad)

	// Independent readers: delta-rs and DuckDB (tests/bronze/check_bronze.py),
	// on the table as the stream wrote it and after compacting one day.
	expPath := filepath.Join(work, "expected.json")
	raw, _ := json.Marshal(want)
	if err := os.WriteFile(expPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		cmd := exec.CommandContext(ctx, python, filepath.Join(repo, "tests", "bronze", "check_bronze.py"), table, expPath, topic)
		out, err := cmd.CombinedOutput()
		t.Logf("check_bronze.py (%s):\n%s", when, out)
		if err != nil {
			t.Fatalf("independent readers disagree (%s): %v", when, err)
		}
	}
	check("as streamed")

	before := filesPerDay(t, ctx, store)
	out, err := exec.CommandContext(ctx, bin, "delta", "optimize", "--partition", "event_date="+days[1], table).CombinedOutput()
	if err != nil {
		t.Fatalf("delta optimize: %v\n%s", err, out)
	}
	after := filesPerDay(t, ctx, store)
	t.Logf("delta optimize --partition event_date=%s: %s files per day %v -> %v", days[1], strings.TrimSpace(string(out)), before, after)
	if before[days[1]] < 2 || after[days[1]] != 1 || after[days[0]] != before[days[0]] || after[days[2]] != before[days[2]] {
		t.Fatalf("optimize of %s: files per day %v -> %v; want that day in one file, the others untouched", days[1], before, after)
	}
	check("after optimizing " + days[1])
}

func filesPerDay(t *testing.T, ctx context.Context, st objstore.Store) map[string]int {
	t.Helper()
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, a := range snap.Files {
		n[a.PartitionValues["event_date"]]++
	}
	return n
}

// liveRows counts the rows of the table's live files from their stats.
func liveRows(ctx context.Context, st objstore.Store) (int, error) {
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range snap.Files {
		var s struct {
			NumRecords int `json:"numRecords"`
		}
		if err := json.Unmarshal([]byte(a.Stats), &s); err != nil {
			return 0, fmt.Errorf("%s: stats %q: %w", a.Path, a.Stats, err)
		}
		n += s.NumRecords
	}
	return n, nil
}

// waitRows polls the table until ok(rows) or ctx ends (an error: the test fails).
func waitRows(ctx context.Context, st objstore.Store, ok func(int) bool) (int, error) {
	last := -1
	var lastErr error
	for {
		n, err := liveRows(ctx, st)
		if err == nil && ok(n) {
			return n, nil
		}
		if err == nil {
			last = n
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%d rows when the wait timed out (last error %v)", last, lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkDeadLetters wants every malformed record in the dead-letter topic with
// its reason; a replay after the kill may dead-letter one twice.
func checkDeadLetters(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, bad []pos) {
	t.Helper()
	recs := readAll(t, ctx, cl, topic)
	got := map[pos]bool{}
	for _, r := range recs {
		var env struct {
			Reason string `json:"reason"`
			Source struct {
				Partition json.Number `json:"partition"`
				Offset    json.Number `json:"offset"`
			} `json:"source"`
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatalf("dead letter %q: %v", r.Value, err)
		}
		if env.Reason != "bad_json" && env.Reason != "bad_timestamp" {
			t.Errorf("dead letter with reason %q: %s", env.Reason, r.Value)
		}
		p, _ := env.Source.Partition.Int64()
		o, _ := env.Source.Offset.Int64()
		got[pos{int32(p), o}] = true
	}
	for _, p := range bad {
		if !got[p] {
			t.Errorf("malformed record %+v is not in the dead-letter topic", p)
		}
	}
	if len(got) != len(bad) {
		t.Errorf("dead letters for %d records, want %d", len(got), len(bad))
	}
}

func readAll(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) []*kgo.Record {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	rd, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %d of %d records: %v", topic, len(out), want, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// metric reads a counter's value (summed over labels) from /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + name + `(\{[^}]*\})? ([0-9.e+]+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		sum += v
	}
	return sum
}

func tailFile(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// instanceID is the static member id of a bronze process of the test: the
// second replica of run 2 is a member of its own, every other process is the
// same member restarted.
func instanceID(name string) string {
	if name == "run2-b" {
		return "bronze-b"
	}
	return "bronze-a"
}
