package crash

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// splitRefusal is what stage full logs while it holds batches because
// another process of its consumer group owns part of the topic.
const splitRefusal = "stage full needs every partition of topic"

// Two processes of one stage-full config in one consumer group (issue 12:
// "run it N times") must not write a wrong table. While both run, each owns
// 3 of the 6 partitions and holds its batches: no window row is written by
// either, and both log why. Once one is killed, the other owns every
// partition and writes every window, equal to a single-process run.
func TestTwoReplicasOfAFullWindowConfigWriteNothingUntilOneIsLeft(t *testing.T) {
	needCrashTier(t)
	bin := buildBinary(t)
	data := rides(7)
	want := expected(data)
	addr := startKafka(t)

	// The single-process run, on its own topic.
	single := newJob(t, bin, addr, "single", 2)
	produceAll(t, addr, "single", data)
	single.start(t)
	single.waitFor(t, len(want), waitTimeout())
	single.kill()
	singleRows := distinct(t, single.read(t))
	compare(t, "single process vs the data", singleRows, want)

	// Two replicas: one topic, one group, one checkpoint; an output each.
	// The second is then SIGKILLed, or stopped with SIGTERM: a clean stop
	// waits for its held batches until Benthos' shutdown timeout and fails
	// them, and that must not commit their offsets either.
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			twoReplicas(t, bin, addr, "split-"+strings.ReplaceAll(sig.String(), " ", ""), sig, data, singleRows)
		})
	}
}

func twoReplicas(t *testing.T, bin, addr, name string, sig syscall.Signal, data [][]ride, singleRows map[string]row) {
	a := newJob(t, bin, addr, name, 2)
	b := replica(t, a, name+"-1", name+"-0")
	a.start(t)
	b.start(t)
	waitForMembers(t, addr, name, 2)
	produceAll(t, addr, name, data)
	// Both hold every batch (their logs say so): nothing was written. (A
	// missing line is reported, and the run goes on to check the table.)
	logged(t, a, splitRefusal)
	logged(t, b, splitRefusal)
	if ra, rb := a.read(t), b.read(t); len(ra)+len(rb) != 0 {
		t.Fatalf("with two replicas in the group: %d and %d window rows written, want none (each sees half the partitions)", len(ra), len(rb))
	}

	b.stop(t, sig) // a then takes every partition
	a.waitFor(t, len(singleRows), waitTimeout())
	a.kill()
	if rb := b.read(t); len(rb) != 0 {
		t.Fatalf("the stopped replica wrote %d rows", len(rb))
	}
	got := distinct(t, a.read(t))
	compare(t, "the replica left alone vs the single-process run", got, singleRows)
	for k, r := range got {
		if s := singleRows[k]; s.WindowID != r.WindowID {
			t.Errorf("window %s: id %s, single-process id %s", k, r.WindowID, s.WindowID)
		}
	}
	t.Logf("%d windows over %d partitions, written once the second replica was gone (%v)", len(got), partitions, sig)
}

// Two processes of a stage-full config with group_balancer: single_owner
// (config/rides.yaml's) in one group are one active process and a standby:
// the first owns every partition and writes windows while the second is in
// the group, which owns none and writes nothing; SIGKILLed mid-run, the
// first is replaced by the standby, which reloads the checkpoint and goes on
// from the committed offsets. Both outputs together hold every window of the
// data once (repeats identical).
func TestReplicasOfASingleOwnerFullWindowConfigAreActiveAndStandby(t *testing.T) {
	needCrashTier(t)
	bin := buildBinary(t)
	data := rides(11)
	want := expected(data)
	addr := startKafka(t)

	const name = "standby"
	a := newJob(t, bin, addr, name, 2)
	withSingleOwner(t, a)
	b := replica(t, a, name+"-1", name+"-0")
	fed := feed(addr, name, data)
	a.start(t)
	a.waitForWork(t)
	b.start(t)
	waitForGroup(t, addr, name, "2 members, 1 owning partitions", func(members, owning int) bool { return members == 2 && owning == 1 })
	before := len(distinct(t, a.read(t)))
	if !a.pollUntil(t, waitTimeout(), 50*time.Millisecond, func() bool { return len(distinct(t, a.read(t))) > before }) {
		t.Fatalf("the active process wrote no window while the standby was in the group (%d before it joined)", before)
	}
	if rb := b.read(t); len(rb) != 0 {
		t.Fatalf("the standby wrote %d rows while the active process ran", len(rb))
	}
	a.kill()
	t.Logf("active SIGKILLed after %d of %d windows", len(distinct(t, a.read(t))), len(want))

	both := func() []row { return append(a.read(t), b.read(t)...) }
	if !b.pollUntil(t, waitTimeout(), 50*time.Millisecond, func() bool { return len(distinct(t, both())) >= len(want) }) {
		logs, _ := os.ReadFile(b.logs.Name())
		t.Fatalf("the standby left alone: %d of %d windows; its log:\n%.3000s", len(distinct(t, both())), len(want), logs)
	}
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	b.kill()
	if len(b.read(t)) == 0 {
		t.Fatal("the standby wrote nothing after the takeover")
	}
	compare(t, "active + standby vs the data", distinct(t, both()), want)
}

// withSingleOwner adds group_balancer: single_owner to j's kafka_franz input.
func withSingleOwner(t *testing.T, j *job) {
	t.Helper()
	cfg, err := os.ReadFile(j.cfg)
	if err != nil {
		t.Fatal(err)
	}
	const at = "          heartbeat_interval: 200ms\n"
	text := strings.Replace(string(cfg), at, at+"          group_balancer: single_owner\n", 1)
	if text == string(cfg) {
		t.Fatal("no heartbeat_interval line to add group_balancer after")
	}
	if err := os.WriteFile(j.cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stop sends sig to the process and waits for it to exit (bounded).
func (j *job) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGKILL {
		j.kill()
		return
	}
	_ = j.proc.Process.Signal(sig)
	select {
	case <-j.exited:
		j.proc = nil
	case <-time.After(time.Minute):
		t.Fatalf("rides-connect did not exit within a minute of %v", sig)
	}
}

// replica is a second process of j's job: the same topic, group and
// checkpoint, its own static member id and output file.
func replica(t *testing.T, j *job, instance, was string) *job {
	t.Helper()
	cfg, err := os.ReadFile(j.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return jobIn(t, j.bin, filepath.Join(filepath.Dir(j.cfg), instance), func(out string) string {
		text := strings.Replace(string(cfg), `path: "`+j.out+`"`, `path: "`+out+`"`, 1)
		text = strings.Replace(text, `instance_id: "`+was+`"`, `instance_id: "`+instance+`"`, 1)
		if text == string(cfg) || !strings.Contains(text, out) || !strings.Contains(text, instance) {
			t.Fatal("the replica's config does not differ in output and instance id")
		}
		return text
	})
}

// produceAll writes every ride at once, round robin over the partitions.
// Within a partition event time still grows phase by phase, so with the
// per-partition lateness rule no row is late (see rides).
func produceAll(t *testing.T, addr, topic string, phased [][]ride) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, phase := range phased {
		var recs []*kgo.Record
		for _, r := range phase {
			v, _ := json.Marshal(map[string]any{"city": r.city, "price": r.price, "ts": r.ts.Format(time.RFC3339Nano)})
			recs = append(recs, &kgo.Record{Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitForMembers polls the group until it is stable with n members that
// each own partitions.
func waitForMembers(t *testing.T, addr, group string, n int) {
	t.Helper()
	waitForGroup(t, addr, group, fmt.Sprintf("%d members owning partitions", n), func(members, owning int) bool {
		return members == n && owning == n
	})
}

// waitForGroup polls the group until it is stable and ok(members, members
// owning partitions) holds.
func waitForGroup(t *testing.T, addr, group, want string, ok func(members, owning int) bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		gs, err := adm.DescribeGroups(context.Background(), group)
		if err == nil {
			g := gs[group]
			owning := 0
			for _, m := range g.Members {
				if c, ok := m.Assigned.AsConsumer(); ok && len(c.Topics) > 0 {
					owning++
				}
			}
			last = fmt.Sprintf("state %s, %d members, %d owning partitions", g.State, len(g.Members), owning)
			if g.State == "Stable" && ok(len(g.Members), owning) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // polling the broker's view of the group
	}
	t.Fatalf("group %s never had %s (last: %s)", group, want, last)
}

// logged polls j's process log until it contains s; after 30 s the test
// is marked failed and goes on.
func logged(t *testing.T, j *job, s string) {
	t.Helper()
	if j.pollUntil(t, 30*time.Second, 50*time.Millisecond, func() bool {
		logs, _ := os.ReadFile(j.logs.Name())
		return strings.Contains(string(logs), s)
	}) {
		return
	}
	logs, _ := os.ReadFile(j.logs.Name())
	t.Errorf("%q not logged within 30 s; log:\n%.2000s", s, logs)
}
