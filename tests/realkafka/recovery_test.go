package realkafka

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
	"github.com/miaradia/rides-connect/plugins/checkpoint/store"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// resumeLimit is the target: a restarted job processes again, and
// commits to Delta, within 10 s of its start (p99 over the kills).
const resumeLimit = 10 * time.Second

// sessionTimeout is the input's session_timeout in config/rides.yaml.
const sessionTimeout = 10 * time.Second

// TestRidesJobResumesWithinSecondsAfterSIGKILL runs the unchanged
// config/rides.yaml through the binary over SASL_SSL, with the Delta table
// and the window checkpoint on an S3 API server (s3a:// URLs), while rides
// stream into 6 partitions. The job is SIGKILLed at random points and
// restarted RECOVERY_KILLS times (default 12), then stopped with SIGTERM and
// restarted twice; each restart must aggregate a new row and commit to Delta
// within resumeLimit. A last clean stop is followed by a start under another
// instance ID, which must get the partitions once the old member's session
// expires. At the end the table must hold exactly the reference
// windows: no row lost or doubled across the crashes. The distribution of
// the resume times is logged (docs/recovery.md).
func TestRidesJobResumesWithinSecondsAfterSIGKILL(t *testing.T) {
	be := needBroker(t)
	kills := 12
	if n, err := strconv.Atoi(os.Getenv("RECOVERY_KILLS")); err == nil && n > 0 {
		kills = n
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := harness.BuildBinary(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := s3fake.Start(t, "lake", "ckpt")
	adm := be.adminClient(t)
	topic := uniqueName("rides-recovery")
	createTopic(t, adm, topic, 6)
	createTopic(t, adm, topic+"-dlq", 1)
	job := &recoveryJob{bin: bin, cfg: filepath.Join(root, "config", "rides.yaml"), logDir: t.TempDir(), env: []string{
		"KAFKA_BOOTSTRAP=" + be.saslSSL, "KAFKA_TOPIC=" + topic, "KAFKA_GROUP=" + topic, "KAFKA_START=earliest",
		"KAFKA_TLS=true", "KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_USER=" + be.user, "KAFKA_PASS=" + be.pass,
		"KAFKA_TRUSTSTORE=" + be.truststore, "KAFKA_TRUSTSTORE_PASSWORD=" + be.trustPassword,
		"DLQ_TOPIC=" + topic + "-dlq",
		// One stable member ID across restarts, as the Kubernetes manifests pin it: each start
		// here listens on a new port, which would change the default ID (host name + port).
		"KAFKA_INSTANCE_ID=" + topic + "-0",
		"OUT_DELTA=s3a://lake/silver/rides_agg", "CHECKPOINT=s3a://ckpt/rides/",
		"S3_ENDPOINT=" + srv.Endpoint, "S3_FORCE_PATH_STYLE=true", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
	}}
	t.Logf("job logs in %s", job.logDir)

	// 200 rides/s, 1 event-second apart: a 5-minute window closes every 1.5 s
	// of wall time, and the disorder (±20 s) is far below the 10-minute delay.
	feed := &rideFeed{cl: be.producer(t), topic: topic, partitions: 6,
		from: time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), jitter: 20 * time.Second}
	feed.run(10, 50*time.Millisecond)

	cold := job.waitResume(t, job.start(t), time.Minute)
	t.Logf("cold start: %s", fmtResume(cold))
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("kill seed %d", seed)
	var killed, stopped []resume
	for k := 0; k < kills+2; k++ {
		// A random kill point while the job works.
		time.Sleep(time.Duration(200+rng.Intn(1500)) * time.Millisecond)
		graceful := k >= kills
		if graceful {
			if err := job.proc.Stop(30 * time.Second); err != nil {
				t.Fatal(err)
			}
		} else {
			job.proc.Kill()
		}
		r := job.waitResume(t, job.start(t), 2*resumeLimit)
		if graceful {
			stopped = append(stopped, r)
		} else {
			killed = append(killed, r)
		}
		t.Logf("restart %2d (%s): %s", k+1, map[bool]string{true: "SIGTERM", false: "SIGKILL"}[graceful], fmtResume(r))
	}
	if os.Getenv("RECOVERY_DYNAMIC") != "" {
		compareDynamic(t, job)
	}
	// A member that does not come back under its ID (a pod replaced under a
	// new name, a scale-down) does not leave on a clean stop either: its
	// partitions go to the next member once its session expires.
	if err := job.proc.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	other := job.waitResume(t, job.start(t, "KAFKA_INSTANCE_ID="+topic+"-other"), sessionTimeout+2*resumeLimit)
	t.Logf("restart under another instance ID after SIGTERM: %s", fmtResume(other))
	if other.fetched > sessionTimeout+resumeLimit/2 {
		t.Errorf("a new member got the partitions %v after a clean stop: more than session_timeout (%v) + 5 s", other.fetched, sessionTimeout)
	}

	rides := feed.finish(t)
	want, err := harness.ReferenceWindows(rides, 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := objstore.Options{S3: objstore.S3Options{Endpoint: srv.Endpoint, Region: "us-east-1",
		ForcePathStyle: true, AccessKeyID: "test", SecretAccessKey: "test"}}
	table, err := objstore.Open(ctx, "s3a://lake/silver/rides_agg", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForStoreRows(ctx, table, len(want)); err != nil {
		t.Fatalf("%v; log tail:\n%s", err, logTail(job.proc.Log, 30))
	}
	m, err := job.metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := job.proc.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, version, err := harness.StoreRows(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if diff := harness.DiffRows(got, want); diff != "" {
		t.Fatalf("the Delta table differs from the reference after %d kills:\n%s", kills, diff)
	}
	if late := m["window_late_rows_total"]; late != 0 {
		t.Errorf("%v late rows in the last run: the data must be exact under any watermark rule", late)
	}

	report(t, "SIGKILL", killed)
	report(t, "SIGTERM", stopped)
	for _, r := range append(killed, stopped...) {
		if r.firstRow > resumeLimit || r.firstCommit > resumeLimit {
			t.Errorf("a restart took %s, over %v", fmtResume(r), resumeLimit)
		}
	}
	t.Logf("%d rides, %d windows exact in a table at version %d after %d kills and %d stops", len(rides), len(got), version, kills, len(stopped))
	measureLoads(t, table, opts, adm, topic, 6)
}

// measureLoads times the reads a restart makes from S3 before it can work:
// the Delta snapshot (last checkpoint + later JSON commits) and the window
// state of each source partition, the one named after the group's commit.
func measureLoads(t *testing.T, table objstore.Store, opts objstore.Options, adm *kadm.Client, topic string, partitions int) {
	ctx := context.Background()
	t0 := time.Now()
	snap, err := delta.LoadSnapshot(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	snapTook := time.Since(t0)
	kv, err := store.Open(ctx, "s3a://ckpt/rides/", opts)
	if err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	size, slowest := 0, time.Duration(0)
	for p := 0; p < partitions; p++ {
		o, ok := offs.Lookup(topic, int32(p))
		if !ok {
			t.Fatalf("the group has no commit of partition %d", p)
		}
		t0 = time.Now()
		state, err := kv.Get(ctx, fmt.Sprintf("rides_agg-%s-%d@%d", topic, p, o.At))
		if err != nil {
			t.Fatalf("partition %d's state at the group's commit %d: %v", p, o.At, err)
		}
		size, slowest = size+len(state), max(slowest, time.Since(t0))
	}
	t.Logf("loads from the S3 server: Delta snapshot v%d (checkpoint v%d + %d JSON commits, %d live files) %d ms; window states of %d partitions %d bytes, the slowest %d ms",
		snap.Version, snap.CheckpointVersion, snap.Version-max(snap.CheckpointVersion, -1), len(snap.LiveFiles()), snapTook.Milliseconds(), partitions, size, slowest.Milliseconds())
}

// compareDynamic shows what static membership buys: the same kill and
// restart with dynamic membership (KAFKA_INSTANCE_ID empty). Not asserted;
// RECOVERY_DYNAMIC=1 runs it for docs/recovery.md.
func compareDynamic(t *testing.T, job *recoveryJob) {
	job.proc.Stop(30 * time.Second)
	job.waitResume(t, job.start(t, "KAFKA_INSTANCE_ID="), time.Minute) // waits out the static member's session
	job.proc.Kill()
	r := job.waitResume(t, job.start(t, "KAFKA_INSTANCE_ID="), time.Minute)
	t.Logf("restart after SIGKILL with dynamic membership: %s", fmtResume(r))
	job.proc.Stop(30 * time.Second)
	job.waitResume(t, job.start(t), time.Minute)
}

func fmtResume(r resume) string {
	return fmt.Sprintf("metrics up %s ms, first fetch %s ms, first new row %s ms (%.0f replayed rows before it), first Delta commit %s ms",
		ms(r.up), ms(r.fetched), ms(r.firstRow), r.replayed, ms(r.firstCommit))
}

func report(t *testing.T, what string, rs []resume) {
	if len(rs) == 0 {
		return
	}
	var up, fetched, row, commit []time.Duration
	for _, r := range rs {
		up, fetched, row, commit = append(up, r.up), append(fetched, r.fetched), append(row, r.firstRow), append(commit, r.firstCommit)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d restarts after %s, ms from exec (p50 / p90 / p99 / max):", len(rs), what)
	for _, s := range []struct {
		name string
		ds   []time.Duration
	}{{"metrics up", up}, {"first fetch", fetched}, {"first new row", row}, {"first Delta commit", commit}} {
		fmt.Fprintf(&b, "\n  %-18s %5s / %5s / %5s / %5s", s.name, ms(percentile(s.ds, .5)), ms(percentile(s.ds, .9)), ms(percentile(s.ds, .99)), ms(percentile(s.ds, 1)))
	}
	t.Log(b.String())
}
