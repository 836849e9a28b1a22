package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/objstore"
)

// scale is the size of one run; tests/faults/run.sh sets the CI size, the
// full size is `make test-faults-full` (docs/faults.md).
type scale struct {
	rides, kills, brokerRestarts int
	partitions                   int // 0: the default backlog's
	s3Outage, ckptOutage         time.Duration
	disorder                     time.Duration // 0: the default backlog's
	rssLimitMiB                  float64
	seed                         int64
}

func readScale(t *testing.T) scale {
	s := scale{rides: 200_000, kills: 4, brokerRestarts: 1, s3Outage: 15 * time.Second, ckptOutage: 3 * time.Second,
		rssLimitMiB: 512, seed: time.Now().UnixNano()}
	for name, dst := range map[string]*int{"FAULT_RIDES": &s.rides, "FAULT_KILLS": &s.kills, "FAULT_BROKER_RESTARTS": &s.brokerRestarts, "FAULT_PARTITIONS": &s.partitions} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q is not a count", name, v)
			}
			*dst = n
		}
	}
	for name, dst := range map[string]*time.Duration{"FAULT_S3_OUTAGE": &s.s3Outage, "FAULT_CKPT_OUTAGE": &s.ckptOutage, "FAULT_DISORDER": &s.disorder} {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s=%q is not a duration", name, v)
			}
			*dst = d
		}
	}
	if v := os.Getenv("FAULT_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("FAULT_SEED=%q is not an integer", v)
		}
		s.seed = n
	}
	if v := os.Getenv("FAULT_RSS_LIMIT_MIB"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("FAULT_RSS_LIMIT_MIB=%q is not a number", v)
		}
		s.rssLimitMiB = f
	}
	return s
}

// event is one injected fault and how the jobs came back from it.
type event struct {
	kind     string
	at       time.Duration // since the first job started
	lasted   time.Duration // fault on → fault off (restart, broker back, S3 back, dir back)
	recovery map[string]time.Duration
}

// The fault harness (issue #10 item 2): config/rides.yaml unchanged, a real
// Apache Kafka broker, the Delta table and checkpoint on local disk (job
// "local") and on an S3 server behind a fault-injecting proxy (job "s3"),
// while SIGKILLs, broker restarts, an S3 outage, injected 5xx/lost
// responses/timeouts and an unwritable checkpoint directory hit them. Both
// tables must equal the reference and a no-fault run bit for bit, and each
// job's dead-letter topic must hold every malformed record exactly once.
func TestFaultsLeaveTheTableAsWithoutFaults(t *testing.T) {
	brokers, brokerDir := os.Getenv("KAFKA_PLAINTEXT"), os.Getenv("KAFKA_BROKER_DIR")
	if brokers == "" || brokerDir == "" {
		t.Skip("KAFKA_PLAINTEXT/KAFKA_BROKER_DIR unset: no real Kafka broker; run tests/faults/run.sh (make test-faults)")
	}
	sc := readScale(t)
	t.Logf("fault seed %d (FAULT_SEED=%d repeats the schedule); %d rides, %d kills per job, %d broker restarts, S3 outage %v, checkpoint dir unwritable %v",
		sc.seed, sc.seed, sc.rides, sc.kills, sc.brokerRestarts, sc.s3Outage, sc.ckptOutage)
	rng := rand.New(rand.NewSource(sc.seed))

	spec := harness.DefaultBacklog(sc.seed, sc.rides)
	if sc.disorder > 0 {
		// Beyond the watermark's 10 min delay, many rides are late or on
		// time by a few records of their own partition: the table then
		// depends on every partition's progress being restored exactly.
		spec.Disorder = sc.disorder
	}
	if sc.partitions > 0 {
		spec.Partitions = sc.partitions
	}
	parts := spec.Generate()
	t.Logf("backlog: %d partitions, disorder up to %v", spec.Partitions, spec.Disorder)
	want, wantLate, err := harness.PartitionedReference(harness.Rides(parts), 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tags := os.Getenv("FAULT_BUILD_TAGS")
	bin, err := harness.BuildBinaryTags(root, t.TempDir(), tags)
	if err != nil {
		t.Fatal(err)
	}
	if tags != "" {
		t.Logf("binary built with -tags %s (a build that must FAIL this test)", tags)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := fmt.Sprintf("rides-faults-%d", time.Now().UnixNano())
	createTopic(t, adm, topic, int32(spec.Partitions))
	for _, name := range []string{"local", "s3", "clean"} {
		createTopic(t, adm, topic+"-dlq-"+name, 2)
	}

	// S3: gofakes3 in-process, reached only through the fault proxy.
	s3srv, err := harness.StartS3Server("lake", "ckpt")
	if err != nil {
		t.Fatal(err)
	}
	defer s3srv.Stop()
	proxy, err := harness.StartFaultProxy(s3srv.Addr, sc.seed)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Stop()
	s3env := []string{"S3_ENDPOINT=http://" + proxy.Addr, "S3_FORCE_PATH_STYLE=true", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}
	s3table := "s3a://lake/" + topic + "/rides_agg"

	localDir := t.TempDir()
	localCkpt := filepath.Join(localDir, "checkpoint")
	jobs := map[string]*job{
		"local": newJob(t, "local", bin, root, topic, []string{"KAFKA_BOOTSTRAP=" + brokers,
			"OUT_DELTA=" + filepath.Join(localDir, "rides_agg"), "CHECKPOINT=" + localCkpt}, filepath.Join(localDir, "rides_agg")),
		"s3": newJob(t, "s3", bin, root, topic, append([]string{"KAFKA_BOOTSTRAP=" + brokers,
			"OUT_DELTA=" + s3table, "CHECKPOINT=s3a://ckpt/" + topic + "/"}, s3env...), s3table),
	}

	// The schedule: every fault once per slot, shuffled by the seed; the
	// input is produced in slices, one before each fault, so there is work
	// in flight when it strikes.
	var kinds []string
	for i := 0; i < sc.kills; i++ {
		kinds = append(kinds, "sigkill")
	}
	for i := 0; i < sc.brokerRestarts; i++ {
		kinds = append(kinds, "broker-restart")
	}
	kinds = append(kinds, "s3-outage")
	// FAULT_CKPT_OUTAGE=0 leaves it out: a job whose state is in Kafka
	// (config/rides-scaleout.yaml) has no checkpoint directory to take away.
	if sc.ckptOutage > 0 {
		kinds = append(kinds, "checkpoint-unwritable")
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	slices := len(kinds) + 1
	slice := func(s int) [][]harness.Record {
		out := make([][]harness.Record, len(parts))
		for p, recs := range parts {
			out[p] = recs[len(recs)*s/slices : len(recs)*(s+1)/slices]
		}
		return out
	}
	count := func(ps [][]harness.Record) (n int64) {
		for _, r := range ps {
			n += int64(len(r))
		}
		return n
	}

	// 5xx, lost responses, hangs (3 s, then dropped) and slow answers for the
	// whole run of the S3 job.
	proxy.SetFaults(harness.ProxyFaults{Err503: 0.02, Lost: 0.01, Hang: 0.003, Slow: 0.01, HangFor: 3 * time.Second})

	t0 := time.Now()
	for _, j := range jobs {
		j.start(t)
	}
	ctx := context.Background()
	var produced int64
	var events []event
	if err := harness.ProduceRecords(ctx, brokers, topic, slice(0)); err != nil {
		t.Fatal(err)
	}
	produced = count(slice(0))
	for i, kind := range kinds {
		base := produced - count(slice(i))
		// Strike once the targets are a random part of the way through the slice.
		targets := []string{"local", "s3"}
		switch kind {
		case "s3-outage":
			targets = []string{"s3"}
		case "checkpoint-unwritable":
			targets = []string{"local"}
		}
		f := 0.1 + 0.6*rng.Float64()
		for _, name := range targets {
			jobs[name].waitCommitted(t, adm, base+int64(f*float64(produced-base)), 10*time.Minute)
		}
		ev := event{kind: kind, at: time.Since(t0), recovery: map[string]time.Duration{}}
		from := map[string]int64{}
		for _, name := range targets {
			from[name], _ = jobs[name].committed(ctx, adm)
		}
		on := time.Now()
		switch kind {
		case "sigkill":
			for _, name := range targets {
				jobs[name].kill(t)
			}
		case "broker-restart":
			out, err := exec.Command(filepath.Join(root, "tests", "realkafka", "broker.sh"), "restart", brokerDir).CombinedOutput()
			if err != nil {
				t.Fatalf("broker restart: %v\n%s", err, out)
			}
		case "s3-outage":
			proxy.Stop()
			s3srv.Stop()
			time.Sleep(sc.s3Outage) // the outage itself: the job must hold on meanwhile
			if err := s3srv.Restart(); err != nil {
				t.Fatal(err)
			}
			if err := proxy.Restart(); err != nil {
				t.Fatal(err)
			}
		case "checkpoint-unwritable":
			// We run as root: chmod does not stop root. A file takes the
			// directory's place, so creating the temp file fails (ENOTDIR).
			if err := os.Rename(localCkpt, localCkpt+".aside"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(localCkpt, []byte("not a directory"), 0o444); err != nil {
				t.Fatal(err)
			}
			time.Sleep(sc.ckptOutage) // the outage itself
			if err := os.Remove(localCkpt); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(localCkpt+".aside", localCkpt); err != nil {
				t.Fatal(err)
			}
		}
		off := time.Now()
		ev.lasted = off.Sub(on)
		// The next slice arrives as the fault ends, so every job has work
		// to show its recovery on.
		next := slice(i + 1)
		produceErr := make(chan error, 1)
		go func() { produceErr <- harness.ProduceRecords(ctx, brokers, topic, next) }()
		for _, name := range targets {
			ev.recovery[name] = jobs[name].waitMoved(t, adm, from[name], 10*time.Minute).Sub(off)
		}
		if err := <-produceErr; err != nil {
			t.Fatal(err)
		}
		produced += count(next)
		events = append(events, ev)
		t.Logf("fault %2d %-22s at %6.1fs lasted %5.1fs; recovered (committed offsets moving again) after %v",
			i+1, kind, ev.at.Seconds(), ev.lasted.Seconds(), fmtRecovery(ev.recovery))
	}
	if produced != int64(sc.rides) {
		t.Fatalf("produced %d records, want %d", produced, sc.rides)
	}
	for _, name := range []string{"local", "s3"} {
		jobs[name].waitCommitted(t, adm, produced, 15*time.Minute)
		jobs[name].waitMerged(t, adm, 15*time.Minute)
	}
	faultRun := time.Since(t0)
	t.Logf("both jobs drained %d records in %v of faults; proxy: %d requests, %d × 503, %d lost responses, %d hangs, %d slow",
		produced, faultRun.Round(time.Second), proxy.Requests.Load(), proxy.Injected503.Load(), proxy.InjectedLost.Load(),
		proxy.InjectedHang.Load(), proxy.InjectedSlow.Load())
	for _, name := range []string{"local", "s3"} {
		jobs[name].stop(t)
	}

	// The no-fault run: same topic, its own group, local table.
	cleanDir := t.TempDir()
	clean := newJob(t, "clean", bin, root, topic, []string{"KAFKA_BOOTSTRAP=" + brokers,
		"OUT_DELTA=" + filepath.Join(cleanDir, "rides_agg"), "CHECKPOINT=" + filepath.Join(cleanDir, "checkpoint")}, filepath.Join(cleanDir, "rides_agg"))
	c0 := time.Now()
	clean.start(t)
	clean.waitCommitted(t, adm, produced, 15*time.Minute)
	clean.waitMerged(t, adm, 15*time.Minute)
	t.Logf("no-fault run drained in %v", time.Since(c0).Round(time.Second))
	clean.stop(t)

	s3opts := objstore.Options{S3: objstore.S3Options{Endpoint: "http://" + s3srv.Addr, Region: "us-east-1",
		ForcePathStyle: true, AccessKeyID: "test", SecretAccessKey: "test"}}
	cleanRows := tableRows(t, clean.table, objstore.Options{})
	if d := harness.DiffRows(cleanRows, want); d != "" {
		t.Errorf("no-fault table differs from the reference:\n%s", d)
	}
	malformed := malformedCoords(topic, parts)
	for _, j := range []*job{jobs["local"], jobs["s3"], clean} {
		opts := objstore.Options{}
		if j.name == "s3" {
			opts = s3opts
		}
		rows := cleanRows
		if j != clean {
			rows = tableRows(t, j.table, opts)
			if d := harness.DiffRows(rows, cleanRows); d != "" {
				t.Errorf("%s: the table after faults differs from the no-fault run:\n%s", j.name, d)
			} else if d := harness.DiffRows(rows, want); d != "" {
				t.Errorf("%s: the table after faults differs from the reference:\n%s", j.name, d)
			}
		}
		checkDLQ(t, cl, j.name, topic+"-dlq-"+j.name, malformed)
		if j.rssMiB() > sc.rssLimitMiB {
			t.Errorf("%s: peak RSS %.0f MiB is above the %.0f MiB bound", j.name, j.rssMiB(), sc.rssLimitMiB)
		}
		t.Logf("%-5s: %d windows (%d late rides dropped in the reference), %d runs, peak RSS %.0f MiB; over all runs at least %.0f Delta rows skipped as already committed, %.0f dead-letter records not sent twice",
			j.name, len(rows), wantLate, j.runs, j.rssMiB(), j.deltaSkipped, j.dlqSkipped)
	}
	t.Logf("summary: seed %d, %d rides (%d malformed), %d windows, %d faults in %v; events: %s",
		sc.seed, sc.rides, len(malformed), len(want), len(events), faultRun.Round(time.Second), summarize(events))
}

func fmtRecovery(r map[string]time.Duration) string {
	var parts []string
	for _, name := range []string{"local", "s3"} {
		if d, ok := r[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1fs", name, d.Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

func summarize(evs []event) string {
	type agg struct {
		n        int
		max, sum time.Duration
	}
	by := map[string]*agg{}
	var order []string
	for _, e := range evs {
		a := by[e.kind]
		if a == nil {
			a = &agg{}
			by[e.kind] = a
			order = append(order, e.kind)
		}
		for _, d := range e.recovery {
			a.n++
			a.sum += d
			a.max = max(a.max, d)
		}
	}
	var out []string
	for _, k := range order {
		a := by[k]
		out = append(out, fmt.Sprintf("%s: %d recoveries, mean %.1fs, max %.1fs", k, a.n, (a.sum/time.Duration(a.n)).Seconds(), a.max.Seconds()))
	}
	return strings.Join(out, "; ")
}

func tableRows(t *testing.T, url string, opts objstore.Options) []harness.WindowRow {
	t.Helper()
	ctx := context.Background()
	store, err := objstore.Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := harness.StoreRows(ctx, store)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return rows
}

// malformedCoords: record i of partition p is at offset i of a fresh topic.
func malformedCoords(topic string, parts [][]harness.Record) map[string]bool {
	out := map[string]bool{}
	for p, recs := range parts {
		for i, r := range recs {
			if r.Ride == nil {
				out[fmt.Sprintf("%s/%d/%d", topic, p, i)] = true
			}
		}
	}
	return out
}

// checkDLQ: every malformed record exactly once, by the source coordinates
// of the dead-letter envelope, and nothing else.
func checkDLQ(t *testing.T, cl *kgo.Client, name, dlq string, malformed map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs, err := readAll(ctx, cl, dlq)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		var env struct {
			Source struct{ Topic, Partition, Offset string }
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatalf("%s: dead-letter record at %d is not an envelope: %v", name, r.Offset, err)
		}
		seen[env.Source.Topic+"/"+env.Source.Partition+"/"+env.Source.Offset]++
	}
	var dups, missing, extra int
	for k, n := range seen {
		if !malformed[k] {
			extra++
		} else if n > 1 {
			dups += n - 1
		}
	}
	for k := range malformed {
		if seen[k] == 0 {
			missing++
		}
	}
	if dups+missing+extra > 0 {
		t.Errorf("%s: dead-letter topic holds %d records for %d malformed ones: %d duplicates, %d missing, %d unexpected",
			name, len(recs), len(malformed), dups, missing, extra)
	} else {
		t.Logf("%-5s: dead-letter topic holds each of the %d malformed records exactly once", name, len(malformed))
	}
}

func readAll(ctx context.Context, cl *kgo.Client, topic string) ([]*kgo.Record, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	want := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = kgo.NewOffset().AtStart()
			left[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	// Read committed, with the transaction markers: a job whose dead letters
	// go out in its transactions (config/rides-scaleout.yaml) ends each
	// partition with a marker, and its aborted records are not dead letters.
	rd, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out []*kgo.Record
	for len(left) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("reading %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return out, nil
}

func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := harness.CreateServedTopic(ctx, adm, topic, partitions); err != nil {
		t.Fatal(err)
	}
}
