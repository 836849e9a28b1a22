package realkafka

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// checkStage1State checks, once every replica stopped, stage 1's changelog
// <group>-stage1-state: it has as many partitions as the source topic, and
// partition p holds only key p (source partition p's progress goes to
// partition p, so an open transaction of a replica that died hides no other
// partition's progress, docs/scale-out.md), whose latest committed progress
// is the offset <group> committed for p, less one (the source has no gaps).
func checkStage1State(t *testing.T, be brokerEnv, adm *kadm.Client, group, source string, partitions int) {
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
	readCommittedUntilQuiet(t, be, map[string]map[int32]kgo.Offset{stateTopic: nil}, func(r *kgo.Record) bool {
		if latest[r.Partition] == nil {
			latest[r.Partition] = map[string][]byte{}
		}
		latest[r.Partition][string(r.Key)] = r.Value
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
		if m.Partition != int32(p) || m.Offset+1 != off.At {
			t.Errorf("%s key %s: %s, want source partition %d at offset %d (the committed one, less one)",
				stateTopic, key, fmt.Sprintf("partition %d offset %d", m.Partition, m.Offset), p, off.At-1)
		}
	}
}
