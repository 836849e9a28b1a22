package realkafka

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
)

// <group>-stage1-state deleted while the group keeps its committed offsets
// (a topic removed by mistake, a cluster restored without it): stage 1's
// progress of every source partition is gone. config/rides-scaleout.yaml
// holds the partitions, logging why, window_state_lost > 0, and commits
// nothing; a run with WINDOW_ON_LOST=resume goes on to the end of the topic
// (docs/scale-out.md, "Changelog"). Before, it went on at once with no
// progress, and rows the lost progress held late were counted.
func TestScaleOutHoldsWhenStage1ProgressIsLost(t *testing.T) {
	be := needBroker(t)
	bl := newBacklog(t, be, "rides-s1lost", 29, 3_000, false)
	first, second := splitParts(bl.parts)
	produceRecords(t, be, bl.topic, first)
	job := newRidesJob(t, be, bl.topic)
	r := &replica{job: job, id: "replica-0"}
	t.Cleanup(r.kill)
	r.start(t)
	waitStage1Drained(t, bl.adm, job, []*replica{r}, 3*time.Minute)
	if err := r.proc.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stateTopic := job.group + "-stage1-state"
	if resp, err := bl.adm.DeleteTopics(ctx, stateTopic); err != nil || resp[stateTopic].Err != nil {
		t.Fatalf("delete %s: %v %v", stateTopic, err, resp[stateTopic].Err)
	}
	before := committedOffsets(t, ctx, bl.adm, job.group, bl.topic)
	produceRecords(t, be, bl.topic, second)

	r.start(t) // recreates the topic, empty
	for !strings.Contains(processLog(r.proc), "has no progress of "+bl.topic+"/") {
		if r.proc.Exited() || ctx.Err() != nil {
			failReplicas(t, []*replica{r}, "no hold on a lost stage 1 progress")
		}
		time.Sleep(200 * time.Millisecond) // polling the replica's log
	}
	if got := scrapeMetrics(t, r.http)["window_state_lost"]; got < 1 {
		t.Fatalf("window_state_lost %v while held, want >= 1 (alert RidesWindowStateLost)", got)
	}
	if err := r.proc.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	after := committedOffsets(t, ctx, bl.adm, job.group, bl.topic)
	for p, off := range before {
		if after[p] != off {
			t.Errorf("%s/%d committed %d while held, want %d", bl.topic, p, after[p], off)
		}
	}

	job.env = append(job.env, "WINDOW_ON_LOST=resume")
	r.start(t)
	waitStage1Drained(t, bl.adm, job, []*replica{r}, 3*time.Minute)
	if log := processLog(r.proc); !strings.Contains(log, "(state.on_lost: resume)") {
		t.Fatalf("the resumed run does not say it went on without the progress; log tail:\n%s", logTail(r.proc.Log, 3000))
	}
	if err := r.proc.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	checkStage1State(t, be, bl.adm, job.group, bl.topic, bl.parts)
}

// splitParts splits each partition's records in two halves.
func splitParts(parts [][]harness.Record) (first, second [][]harness.Record) {
	for _, recs := range parts {
		first = append(first, recs[:len(recs)/2])
		second = append(second, recs[len(recs)/2:])
	}
	return first, second
}

// committedOffsets is group's committed offset of each partition of topic.
func committedOffsets(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			got[o.Partition] = o.At
		}
	})
	return got
}

func processLog(p *harness.Process) string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}
