package realkafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
)

// checkStage1State checks, once every replica stopped, stage 1's changelog
// <group>-stage1-state: it has as many partitions as the source topic, and
// partition p holds only key p (source partition p's progress goes to
// partition p, so an open transaction of a replica that died hides no other
// partition's progress, docs/scale-out.md), whose latest committed progress
// is the offset <group> committed for p, less one (the source has no gaps;
// malformed records, dead letters, are covered too), and whose committed
// progress only moves forward.
func checkStage1State(t *testing.T, be brokerEnv, adm *kadm.Client, group, source string, parts [][]harness.Record) {
	partitions := len(parts)
	t.Helper()
	stateTopic := group + "-stage1-state"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx, stateTopic)
	if err != nil {
		t.Fatal(err)
	}
	if d := details[stateTopic]; d.Err != nil || len(d.Partitions) != partitions {
		t.Fatalf("%s has %d partitions (%v), want %d as %s", stateTopic, len(d.Partitions), d.Err, partitions, source)
	}
	latest := map[int32]map[string][]byte{}
	// Only p's own batches write p's progress, in order, each in the transaction that commits
	// p's offsets: committed progress never goes back (an idle marker's copy of an older progress,
	// announced by a replica that had lost p, once did, and the next owner reloaded it).
	progress := map[int32]int64{}
	readCommittedToEnd(t, be, map[string]map[int32]kgo.Offset{stateTopic: nil}, func(r *kgo.Record) bool {
		if latest[r.Partition] == nil {
			latest[r.Partition] = map[string][]byte{}
		}
		latest[r.Partition][string(r.Key)] = r.Value
		var m struct {
			Offset int64 `json:"offset"`
		}
		if err := json.Unmarshal(r.Value, &m); err == nil {
			if prev, ok := progress[r.Partition]; ok && m.Offset <= prev {
				t.Errorf("%s partition %d: committed progress went back from offset %d to %d (record at %d)",
					stateTopic, r.Partition, prev, m.Offset, r.Offset)
			}
			progress[r.Partition] = m.Offset
		}
		return true
	})
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := 0; p < partitions; p++ {
		key := strconv.Itoa(p)
		got := latest[int32(p)]
		if got[key] == nil || len(got) != 1 {
			t.Errorf("%s partition %d holds %d keys, want only key %s", stateTopic, p, len(got), key)
			continue
		}
		var m struct {
			Partition int32 `json:"partition"`
			Offset    int64 `json:"offset"`
		}
		if err := json.Unmarshal(got[key], &m); err != nil {
			t.Fatalf("%s key %s: %v", stateTopic, key, err)
		}
		off, ok := committed.Lookup(source, int32(p))
		if !ok || off.Err != nil {
			t.Fatalf("%s has no committed offset for %s/%d (%v)", group, source, p, off.Err)
		}
		t.Logf("p=%d: progress at offset %d in partition %d, committed offset %d", p, m.Offset, p, off.At)
		// The progress covers every record committed, rides and dead letters: a partition
		// whose last records were malformed is not behind its commit (its next owner
		// would wait for it), nor without progress when all were (held as lost).
		if m.Partition != int32(p) || m.Offset != off.At-1 {
			t.Errorf("%s key %s: %s, want source partition %d at offset %d (the committed one, less one, or the last ride before it)",
				stateTopic, key, fmt.Sprintf("partition %d offset %d", m.Partition, m.Offset), p, off.At-1)
		}
	}
}

// A G-stage1-state created with one partition (by an earlier
// config/rides-scaleout.yaml) is refused: the replica exits with code 4
// naming create_topic.partitions_of and the topic, and commits no offset of
// the source (docs/scale-out.md, "Changing G-stage1-state's partition
// count").
func TestScaleOutRefusesAOnePartitionStage1State(t *testing.T) {
	be := needBroker(t)
	bl := newBacklog(t, be, "rides-s1old", 19, 2_000, true)
	job := newRidesJob(t, be, bl.topic)
	stateTopic := job.group + "-stage1-state"
	createTopic(t, bl.adm, stateTopic, 1)
	r := &replica{job: job, id: "replica-0"}
	t.Cleanup(r.kill)
	r.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := r.proc.Wait(ctx)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 4 {
		t.Fatalf("replica with a 1-partition %s: %v, want exit code 4; log tail:\n%s", stateTopic, err, logTail(r.proc.Log, 3000))
	}
	log, _ := os.ReadFile(r.proc.Log)
	want := "create_topic.partitions_of: topic " + stateTopic + " has 1 partitions, topic " + bl.topic + " has " + strconv.Itoa(len(bl.parts))
	if !strings.Contains(string(log), want) {
		t.Fatalf("the log does not say %q; tail:\n%s", want, logTail(r.proc.Log, 3000))
	}
	// The offsets topic may not serve yet on a fresh broker (COORDINATOR_NOT_AVAILABLE).
	committed, err := bl.adm.FetchOffsets(ctx, job.group)
	for err != nil && ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond) // polling the broker
		committed, err = bl.adm.FetchOffsets(ctx, job.group)
	}
	if err != nil {
		t.Fatal(err)
	}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic == bl.topic && o.Err == nil && o.At > 0 {
			t.Errorf("%s committed offset %d of %s/%d before it was refused", job.group, o.At, o.Topic, o.Partition)
		}
	})
	t.Logf("refused with exit code 4: %s", want)
}
