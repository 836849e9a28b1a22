package realkafka

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
)

// config/rides-scaleout.yaml run as 3 replicas of the built binary (one
// consumer group, distinct instance ids) on a prefilled backlog: one replica
// SIGKILLed mid-run and restarted, then scaled 3 -> 1 -> 3. The Delta table
// must equal the per-partition reference exactly (keys, cnt, doubles bit for
// bit; the same reference config/rides.yaml's table equals in
// TestBacklogFromEarliestEqualsReference), with no (window, city) twice.
// SCALEOUT_RIDES sets the size (default 500 000).
func TestScaleOutThreeReplicasEqualReference(t *testing.T) {
	threeReplicas(t, "rides-scaleout", filepath.Join("config", "rides-scaleout.yaml"), 0)
}

// The same with config/rides.yaml: stage 1 without Kafka
// transactions, its state per source partition in the shared checkpoint.
// Its rides are up to 20 min out of order, beyond the 10 min delay: a third
// are late, most by a few records of their own partition, so the table is
// only right if each partition's progress moves exactly with it through the
// kill and the rebalances.
func TestScaleOutLocalThreeReplicasEqualReference(t *testing.T) {
	threeReplicas(t, "rides-local", filepath.Join("config", "rides.yaml"), 20*time.Minute)
}

// threeReplicas runs config as 3 replicas; disorder (0: the default
// backlog's 5 min) is how far behind the topic's progress a ride may be, and
// SCALEOUT_DISORDER overrides it.
func threeReplicas(t *testing.T, name, config string, disorder time.Duration) {
	be := needBroker(t)
	n := envInt(t, "SCALEOUT_RIDES", 500_000)
	spec := harness.DefaultBacklog(int64(envInt(t, "SCALEOUT_SEED", 13)), n)
	spec.Partitions = envInt(t, "SCALEOUT_PARTITIONS", spec.Partitions)
	if disorder > 0 {
		spec.Disorder = disorder
	}
	if v := os.Getenv("SCALEOUT_DISORDER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("SCALEOUT_DISORDER=%q is not a positive duration", v)
		}
		spec.Disorder = d
	}
	t.Logf("%d rides on %d partitions up to %v behind the topic's progress (seed %d)", n, spec.Partitions, spec.Disorder, spec.Seed)
	bl := newBacklogOf(t, be, name, spec, true)
	want, adm := bl.want, bl.adm

	base := newRidesJob(t, be, bl.topic)             // builds the binary; its env, table and checkpoint are shared
	base.env = append(base.env, "PURGE_INTERVAL=1s") // checkMergeState sees every q purged
	reps := make([]*replica, 3)
	for i := range reps {
		reps[i] = &replica{job: base, id: fmt.Sprintf("replica-%d", i), config: config}
		t.Cleanup(func() { reps[i].kill() })
	}
	start := time.Now()
	for _, r := range reps {
		r.start(t)
	}
	// SIGKILL one replica once windows are committing, restart it.
	base.proc = reps[1].proc
	waitTableVersion(t, base, reps, 0, 3*time.Minute)
	reps[1].kill()
	t.Logf("SIGKILLed %s at %v; restarting it", reps[1].id, time.Since(start).Round(time.Millisecond))
	reps[1].start(t)
	// Scale 3 -> 1 -> 3 while the backlog drains: one replica stops, the
	// other dies (SIGKILL) and stays away until the 1 -> 3 step, its open
	// transactions left to the broker (TXN_TIMEOUT).
	v := waitTableVersion(t, base, reps, 0, 3*time.Minute)
	if err := reps[1].proc.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	reps[2].kill()
	t.Logf("scaled to 1 replica at table version %d (%s stopped, %s SIGKILLed)", v, reps[1].id, reps[2].id)
	// A fast start can leave the lone replica only the end of the backlog:
	// once it is drained, no window closes and no version comes.
	v, done := waitTableVersionOrEqual(t, base, reps[:1], v+2, want, 3*time.Minute)
	if done {
		t.Logf("the lone replica finished the backlog at table version %d", v)
	}
	for _, r := range reps[1:] {
		r.start(t)
	}
	t.Logf("scaled back to 3 replicas at table version %d", v)

	got := waitTableEquals(t, base, reps, want, 6*time.Minute)
	t.Logf("3 replicas (one SIGKILLed and restarted, 3->1->3 with one stopped and one SIGKILLed): table equals the reference, %d windows, in %v",
		len(got), time.Since(start).Round(time.Millisecond))
	waitStage1Drained(t, adm, base, reps, time.Minute)
	waitStage2Committed(t, be, adm, base.group, reps, 2*time.Minute)
	seen := map[string]bool{}
	for _, r := range got {
		k := r.City + "|" + r.WinStart
		if seen[k] {
			t.Errorf("(window %s, city %s) twice in the table", r.WinStart, r.City)
		}
		seen[k] = true
	}
	for _, r := range reps {
		if r.proc.Exited() {
			t.Errorf("%s exited on its own; log tail:\n%s", r.id, logTail(r.proc.Log, 3000))
		}
		if err := r.proc.Stop(30 * time.Second); err != nil {
			t.Error(err)
		}
	}
	// Nothing written after the table matched (no late duplicate).
	final, version, err := harness.TableRows(context.Background(), base.table)
	if err != nil {
		t.Fatal(err)
	}
	if d := harness.DiffRows(final, want); d != "" {
		t.Fatalf("after the replicas stopped, the table (version %d) differs from the reference:\n%s", version, d)
	}
	checkMergeState(t, be, adm, base.group, len(bl.parts))
	if strings.HasSuffix(config, "rides-scaleout.yaml") { // the transactional stage 1's changelog
		checkStage1State(t, be, adm, base.group, bl.topic, bl.parts)
	} else {
		checkLocalState(t, adm, base.checkpoint(t), base.group, bl.topic, len(bl.parts))
	}
	checkDeadLettersOnce(t, be, bl)
}

// waitStage1Drained waits until stage 1 has committed the end of every
// partition of the rides topic: the table can be complete while malformed
// records after the last ride are still being read, and their dead letters
// are checked once the replicas stop (a CI run stopped them first: 30
// missing).
func waitStage1Drained(t *testing.T, adm *kadm.Client, j *ridesJob, reps []*replica, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !groupDrained(adm, j.topic, j.group) {
		if time.Now().After(deadline) {
			failReplicas(t, reps, "stage 1 (group %s) did not commit the end of topic %s within %v", j.group, j.topic, d)
		}
		time.Sleep(250 * time.Millisecond) // polling the group's commits
	}
}

// replica is one process of config/rides-scaleout.yaml, or of config (a
// path relative to the repository) when set.
type replica struct {
	job    *ridesJob
	id     string
	config string
	proc   *harness.Process
	runs   int
	http   string // HTTP_ADDRESS of the current run
}

func (r *replica) start(t *testing.T) {
	t.Helper()
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	r.runs++
	r.http = addr
	env := append(append([]string(nil), r.job.env...),
		"KAFKA_INSTANCE_ID="+r.id, "HTTP_ADDRESS="+addr, "LOG_LEVEL=INFO")
	log := filepath.Join(filepath.Dir(r.job.table), fmt.Sprintf("%s-%d.log", r.id, r.runs))
	config := r.config
	if config == "" {
		config = filepath.Join("config", "rides-scaleout.yaml")
	}
	p, err := harness.Start(r.job.bin, []string{"-c", filepath.Join(r.job.root, config)}, env, log)
	if err != nil {
		t.Fatal(err)
	}
	r.proc = p
}

func (r *replica) kill() {
	if r.proc != nil {
		r.proc.Kill()
	}
}

// failReplicas fails with every replica's log tail.
func failReplicas(t *testing.T, reps []*replica, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	for _, r := range reps {
		if r.proc != nil {
			msg += fmt.Sprintf("\n--- %s (exited: %v) log tail:\n%s", r.id, r.proc.Exited(), logTail(r.proc.Log, 2500))
		}
	}
	t.Fatal(msg)
}

// waitTableVersion waits until the table is past version v and returns its
// version; every replica in reps must stay up meanwhile.
func waitTableVersion(t *testing.T, j *ridesJob, reps []*replica, v int64, d time.Duration) int64 {
	t.Helper()
	got, _ := waitTableVersionOrEqual(t, j, reps, v, nil, d)
	return got
}

// waitTableVersionOrEqual is waitTableVersion that also returns, with done
// true, once the table equals want (non-nil): a replica that finished the
// backlog writes no new version.
func waitTableVersionOrEqual(t *testing.T, j *ridesJob, reps []*replica, v int64, want []harness.WindowRow, d time.Duration) (version int64, done bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		rows, got, err := harness.TableRows(context.Background(), j.table)
		if err == nil && got > v {
			return got, false
		}
		if err == nil && want != nil && harness.DiffRows(rows, want) == "" {
			return got, true
		}
		for _, r := range reps {
			if r.proc.Exited() {
				failReplicas(t, reps, "%s exited while waiting for table version %d", r.id, v+1)
			}
		}
		if time.Now().After(deadline) {
			failReplicas(t, reps, "the table did not pass version %d within %v", v, d)
		}
		time.Sleep(500 * time.Millisecond) // polling the other processes' table
	}
}

// waitTableEquals waits until the table equals want, then checks it still
// does once the source topic is drained (nothing more is written).
func waitTableEquals(t *testing.T, j *ridesJob, reps []*replica, want []harness.WindowRow, d time.Duration) []harness.WindowRow {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		got, version, err := harness.TableRows(context.Background(), j.table)
		if err == nil {
			if last = harness.DiffRows(got, want); last == "" {
				return got
			}
			if len(got) > len(want) {
				failReplicas(t, reps, "table (version %d) has more rows than the reference:\n%s", version, last)
			}
		}
		for _, r := range reps {
			if r.proc.Exited() {
				failReplicas(t, reps, "%s exited before the table was complete", r.id)
			}
		}
		if time.Now().After(deadline) {
			failReplicas(t, reps, "the table does not equal the reference after %v (err %v):\n%s", d, err, last)
		}
		time.Sleep(time.Second) // polling the other processes' table
	}
}

// One replica of config/rides-scaleout.yaml writes the table one process of
// config/rides-single.yaml (stage full, no shuffle) writes on the same topic
// (compared with each other, not only with the reference; config/rides.yaml
// is compared with the reference by TestBacklogFromEarliestEqualsReference).
// SCALEOUT_ONE_RIDES sets the size (100 000).
func TestScaleOutOneReplicaEqualsRidesYAML(t *testing.T) {
	be := needBroker(t)
	n := envInt(t, "SCALEOUT_ONE_RIDES", 100_000)
	bl := newBacklog(t, be, "rides-one", 17, n, true)
	topic, adm := bl.topic, bl.adm

	full := newRidesJob(t, be, topic)
	full.conf = filepath.Join(full.root, "config", "rides-single.yaml")
	full.start(t)
	full.waitDrained(t, adm, 4*time.Minute)
	want, version, err := harness.TableRows(context.Background(), full.table)
	if err != nil {
		t.Fatal(err)
	}
	full.stop(t)
	if len(want) == 0 {
		t.Fatal("config/rides-single.yaml wrote no window")
	}

	so := newRidesJob(t, be, topic)
	so.group = topic + "-scaleout"
	so.env = append(so.env, "KAFKA_GROUP="+so.group) // the last value of a variable wins
	r := &replica{job: so, id: "replica-0"}
	t.Cleanup(r.kill)
	r.start(t)
	got := waitTableEquals(t, so, []*replica{r}, want, 4*time.Minute)
	if err := r.proc.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	t.Logf("one replica of config/rides-scaleout.yaml: %d windows, equal to config/rides-single.yaml's table (version %d)", len(got), version)
}

// A replica stopped (SIGSTOP) mid-run until both its consumer groups have
// removed it (session timeout) and the others took its partitions over,
// then resumed (SIGCONT): whatever it held (an open Kafka transaction, a
// Delta commit of its stage-2 partitions) must not change the table, which
// still equals the reference with no (window, city) twice. From the Delta
// log (commitInfo.writerId, txn tokens): the new owners' commits raised the
// token of each internal partition the stopped replica had before it was
// resumed, and the resumed replica made no commit with a token from before
// its pause (commits after it rejoined the groups carry newer generations).
// SCALEOUT_ZOMBIE_RIDES sets the size (300 000).
func TestScaleOutStoppedReplicaDoesNotChangeTheTable(t *testing.T) {
	stoppedReplica(t, "rides-zombie", filepath.Join("config", "rides-scaleout.yaml"))
}

// The same with config/rides.yaml: the resumed replica's
// stage 1 may also write states of source partitions it lost; they are
// named after commits the group did not make, so no owner reads them back
// (in one key per partition, such a late write once held a partition for
// good here, in CI).
func TestScaleOutLocalStoppedReplicaDoesNotChangeTheTable(t *testing.T) {
	stoppedReplica(t, "rides-zombie-local", filepath.Join("config", "rides.yaml"))
}

func stoppedReplica(t *testing.T, name, config string) {
	be := needBroker(t)
	n := envInt(t, "SCALEOUT_ZOMBIE_RIDES", 300_000)
	// One record in five malformed: the paused replica has dead letters in flight when it stops
	// (checkDeadLettersOnce; with the default 0.4 % it seldom had).
	spec := harness.DefaultBacklog(19, n)
	spec.Malformed = 0.2
	bl := newBacklogOf(t, be, name, spec, true)
	want, adm := bl.want, bl.adm

	base := newRidesJob(t, be, bl.topic)
	base.env = append(base.env, "PURGE_INTERVAL=1s") // checkMergeState sees every q purged
	reps := make([]*replica, 3)
	for i := range reps {
		reps[i] = &replica{job: base, id: fmt.Sprintf("replica-%d", i), config: config}
		t.Cleanup(func() {
			if reps[i].proc != nil && !reps[i].proc.Exited() {
				_ = syscall.Kill(reps[i].proc.PID(), syscall.SIGCONT)
			}
			reps[i].kill()
		})
		reps[i].start(t)
	}
	waitTableVersion(t, base, reps, 0, 3*time.Minute)
	zombie := reps[1]
	if err := syscall.Kill(zombie.proc.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	vStop := readLog(t, base.table)
	stopVersion := int64(0)
	if len(vStop) > 0 {
		stopVersion = vStop[len(vStop)-1].version
	}
	qs := mergePartitions(t, adm, base.group, zombie.id) // frozen while it is stopped
	t.Logf("SIGSTOPped %s at table version %d; it owned internal partitions %v", zombie.id, stopVersion, qs)
	others := []*replica{reps[0], reps[2]}
	for _, g := range []string{base.group, base.group + "-merge"} {
		waitNotMember(t, adm, g, zombie.id, others, time.Minute)
	}
	t.Logf("%s left both groups %v after SIGSTOP", zombie.id, time.Since(stopped).Round(time.Millisecond))
	// Its stage-1 transaction holds the internal topic's last stable offset
	// until TXN_TIMEOUT (10 s): the new owners fence q as soon as they get
	// a record of it.
	for _, c := range waitFenced(t, base, others, zombie.id, qs, stopVersion, 3*time.Minute) {
		t.Logf("taken over in Delta: version %d by %s, tokens %v, %d adds (0: a fence commit)", c.version, c.writer, c.tokens, c.adds)
	}
	log := readLog(t, base.table)
	resumed := log[len(log)-1].version
	resumedAt := time.Now()
	if err := syscall.Kill(zombie.proc.PID(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGCONT %s at table version %d, %v after SIGSTOP", zombie.id, resumed, resumedAt.Sub(stopped).Round(time.Millisecond))
	got := waitTableEquals(t, base, reps, want, 4*time.Minute)
	waitStage1Drained(t, adm, base, reps, time.Minute)
	waitStage2Committed(t, be, adm, base.group, reps, 2*time.Minute)
	if m, err := harness.ScrapeMetrics(zombie.http); err == nil {
		t.Logf("%s after SIGCONT: delta_fenced_total %v (batches it had in flight for Delta, refused), kafka_input_transactions_total %v",
			zombie.id, m["delta_fenced_total"], m["kafka_input_transactions_total"])
	} else {
		t.Logf("%s metrics: %v", zombie.id, err)
	}
	for _, r := range reps {
		if err := r.proc.Stop(30 * time.Second); err != nil {
			t.Error(err)
		}
	}
	final, version, err := harness.TableRows(context.Background(), base.table)
	if err != nil {
		t.Fatal(err)
	}
	if d := harness.DiffRows(final, want); d != "" {
		t.Fatalf("after the replicas stopped, the table (version %d) differs from the reference:\n%s", version, d)
	}
	b, _ := os.ReadFile(zombie.proc.Log)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "already") || strings.Contains(line, "fenced") || strings.Contains(line, "aborted") {
			t.Logf("%s after SIGCONT: %.300s", zombie.id, line)
		}
	}
	after := checkNoZombieCommit(t, readLog(t, base.table), zombie.id, resumed, resumedAt)
	t.Logf("%s made %d commits after SIGCONT, none with a token from before its pause", zombie.id, after)
	t.Logf("table equals the reference (%d windows, version %d) after %s was stopped past its session timeout and resumed", len(got), version, zombie.id)
	checkMergeState(t, be, adm, base.group, len(bl.parts))
	if strings.HasSuffix(config, "rides-scaleout.yaml") { // the transactional stage 1's changelog
		checkStage1State(t, be, adm, base.group, bl.topic, bl.parts)
	}
	// The transactional config writes dead letters exactly once; the local one at least once.
	checkDeadLetters(t, be, bl, strings.HasSuffix(config, "rides-scaleout.yaml"))
}

// waitNotMember waits until no member of group has instance id id.
func waitNotMember(t *testing.T, adm *kadm.Client, group, id string, reps []*replica, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gs, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			in := false
			for _, m := range gs[group].Members {
				in = in || (m.InstanceID != nil && *m.InstanceID == id)
			}
			if !in {
				return
			}
		}
		if time.Now().After(deadline) {
			failReplicas(t, reps, "%s still a member of %s after %v (err %v)", id, group, d, err)
		}
		time.Sleep(500 * time.Millisecond) // polling the broker's group state
	}
}
