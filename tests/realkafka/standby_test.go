package realkafka

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
)

// config/rides-single.yaml (stage full, the single-process form of the job;
// config/rides.yaml spreads partitions, scaleout_test.go) run as 3 replicas
// (one consumer group, one checkpoint,
// one table, distinct instance ids) while a producer writes a live stream:
// one replica owns every partition and the others stand by
// (group_balancer: single_owner), since a stage-full window needs the whole
// topic in one process. The active replica is SIGKILLed mid-stream and a
// standby takes over; the killed one comes back as a standby; then the group
// goes 3 -> 1 -> 3, stopping the active one again. The table equals the
// per-partition reference exactly, every malformed record is dead-lettered
// once, and whenever the group is stable one replica owns the topic.
// STANDBY_RIDES sets the size (default 150 000).
func TestRidesJobReplicasAreOneActiveAndStandbys(t *testing.T) {
	be := needBroker(t)
	n := envInt(t, "STANDBY_RIDES", 150_000)
	b := newBacklog(t, be, "rides-standby", 17, n, false)
	base := newRidesJob(t, be, b.topic)
	reps := make([]*replica, 3)
	for i := range reps {
		reps[i] = &replica{job: base, id: fmt.Sprintf("standby-%d", i), config: filepath.Join("config", "rides-single.yaml")}
		t.Cleanup(func() { reps[i].kill() })
		reps[i].start(t)
	}
	const slices = 10
	for s := 0; s < slices; s++ {
		slice := make([][]harness.Record, len(b.parts))
		for p, recs := range b.parts {
			slice[p] = recs[len(recs)*s/slices : len(recs)*(s+1)/slices]
		}
		produceRecords(t, be, b.topic, slice)
		switch s {
		case 3: // SIGKILL the active replica; a standby takes over.
			v := waitTableVersion(t, base, reps, 0, 3*time.Minute)
			active := waitOneOwner(t, b.adm, base.group, len(b.parts), reps, "")
			active.kill()
			next := waitOneOwner(t, b.adm, base.group, len(b.parts), reps, active.id)
			t.Logf("SIGKILLed the active %s at table version %d; %s took over; restarting %s", active.id, v, next.id, active.id)
			active.start(t)
		case 6: // 3 -> 1 -> 3: stop the active and one standby.
			active := waitOneOwner(t, b.adm, base.group, len(b.parts), reps, "")
			stopped := []*replica{active}
			for _, r := range reps {
				if r != active && len(stopped) < 2 {
					stopped = append(stopped, r)
				}
			}
			for _, r := range stopped {
				if err := r.proc.Stop(30 * time.Second); err != nil {
					t.Error(err)
				}
			}
			left := waitOneOwner(t, b.adm, base.group, len(b.parts), reps, active.id)
			t.Logf("scaled to 1: stopped %s and %s, %s owns the topic", stopped[0].id, stopped[1].id, left.id)
			for _, r := range stopped {
				r.start(t)
			}
		}
	}
	got := waitTableEquals(t, base, reps, b.want, 6*time.Minute)
	waitStage1Drained(t, b.adm, base, reps, time.Minute)
	for _, r := range reps {
		if r.proc.Exited() {
			t.Errorf("%s exited on its own; log tail:\n%s", r.id, logTail(r.proc.Log, 3000))
		}
		if err := r.proc.Stop(30 * time.Second); err != nil {
			t.Error(err)
		}
	}
	final, version, err := harness.TableRows(context.Background(), base.table)
	if err != nil {
		t.Fatal(err)
	}
	if d := harness.DiffRows(final, b.want); d != "" {
		t.Fatalf("after the replicas stopped, the table (version %d) differs from the reference:\n%s", version, d)
	}
	checkDeadLettersOnce(t, be, b)
	t.Logf("3 replicas of config/rides-single.yaml (active SIGKILLed, 3->1->3): %d windows equal to the reference", len(got))
}

// waitOneOwner waits until the group is stable with exactly one member
// owning partitions, all partitions of the topic, and that member is a
// running replica other than the one named not; it returns that replica.
func waitOneOwner(t *testing.T, adm *kadm.Client, group string, partitions int, reps []*replica, not string) *replica {
	t.Helper()
	last := "no answer"
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		gs, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			g := gs[group]
			var owners []string
			owned := 0
			for _, m := range g.Members {
				if c, ok := m.Assigned.AsConsumer(); ok && len(c.Topics) > 0 && m.InstanceID != nil {
					owners = append(owners, *m.InstanceID)
					for _, topic := range c.Topics {
						owned += len(topic.Partitions)
					}
				}
			}
			last = fmt.Sprintf("state %s, %d members, owners %v of %d partitions", g.State, len(g.Members), owners, owned)
			if g.State == "Stable" && len(owners) > 1 {
				failReplicas(t, reps, "group %s stable with %d members owning partitions: %s", group, len(owners), last)
			}
			if g.State == "Stable" && len(owners) == 1 && owned == partitions && owners[0] != not {
				for _, r := range reps {
					// A stopped static member stays in the group
					// until its session expires: wait for a live owner.
					if r.id == owners[0] && !r.proc.Exited() {
						return r
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond) // polling the coordinator's view of the group
	}
	failReplicas(t, reps, "group %s never had one owner other than %q within a minute (last: %s)", group, not, last)
	return nil
}
