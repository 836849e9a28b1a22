package realkafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// checkMergeState checks, once every replica stopped, that stage 2's state
// in <group>-merge-state matches the offsets <group>-merge committed with
// it: for every internal partition q, its latest committed state (key
// rides_agg-<q>, in partition q only) has applied every committed record of
// <group>-repartition partition q below q's committed offset. A state
// overwritten by a zombie, or written without the offsets, would miss some
// (config/rides-scaleout.yaml, state.changelog; no idle timeout, so stage 2
// closes nothing early and applies every record it reads). It also checks
// that purge_committed moved each q's log start, never past the commit.
func checkMergeState(t *testing.T, be brokerEnv, adm *kadm.Client, group string, partitions int) {
	t.Helper()
	stateTopic, internal := group+"-merge-state", group+"-repartition"
	latest := map[int32]map[string][]byte{}
	readCommittedToEnd(t, be, map[string]map[int32]kgo.Offset{stateTopic: nil}, func(r *kgo.Record) bool {
		if latest[r.Partition] == nil {
			latest[r.Partition] = map[string][]byte{}
		}
		latest[r.Partition][string(r.Key)] = r.Value
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	committed, err := adm.FetchOffsets(ctx, group+"-merge")
	if err != nil {
		t.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, internal)
	if err != nil {
		t.Fatal(err)
	}
	from := map[int32]kgo.Offset{}
	ends := map[int32]int64{}
	for q := 0; q < partitions; q++ {
		key := fmt.Sprintf("rides_agg-%d", q)
		got := latest[int32(q)]
		if got[key] == nil || len(got) != 1 {
			t.Errorf("%s partition %d holds keys of %d states, want only %s", stateTopic, q, len(got), key)
			continue
		}
		hi, err := engine.StateAppliedHigh(got[key], fmt.Sprintf("%s/%d", internal, q))
		if err != nil {
			t.Fatalf("%s %s: %v", stateTopic, key, err)
		}
		off, ok := committed.Lookup(internal, int32(q))
		if !ok || off.Err != nil {
			t.Fatalf("%s-merge has no committed offset for %s/%d (%v)", group, internal, q, off.Err)
		}
		ends[int32(q)] = off.At
		// purge_committed (PURGE_INTERVAL=1s here): what G-merge committed is
		// deleted, nothing after it.
		start, ok := starts.Lookup(internal, int32(q))
		switch {
		case !ok || start.Err != nil:
			t.Errorf("%s/%d: no log start offset (%v)", internal, q, start.Err)
		case start.Offset > off.At:
			t.Errorf("%s/%d: log start %d is above the committed offset %d: uncommitted records were purged", internal, q, start.Offset, off.At)
		case start.Offset == 0:
			t.Errorf("%s/%d: log start 0 with committed offset %d: nothing was purged", internal, q, off.At)
		}
		t.Logf("q=%d: state applied up to offset %d, committed offset %d, log start %d", q, hi, off.At, start.Offset)
		if hi+1 < off.At {
			from[int32(q)] = kgo.NewOffset().At(hi + 1)
		}
	}
	if len(from) == 0 {
		return
	}
	// Records between a state's last applied offset and the committed offset
	// were consumed but are not in the state: they would never be merged.
	readCommittedToEnd(t, be, map[string]map[int32]kgo.Offset{internal: from}, func(r *kgo.Record) bool {
		if r.Offset < ends[r.Partition] {
			t.Errorf("%s/%d offset %d is below the committed offset %d but not applied in the committed state", internal, r.Partition, r.Offset, ends[r.Partition])
			return false
		}
		return true
	})
}

// waitStage2Committed waits until <group>-merge has committed, for every
// internal partition, the offset after its last committed record as read
// now. Stage 2 writes the table before its Kafka transaction commits, so a
// complete table does not mean every transaction committed: one that a
// rebalance aborted is redone from the committed offsets, which can come
// after the table matched (checkMergeState once found internal partitions
// with no committed state, the replicas stopped before their redo).
func waitStage2Committed(t *testing.T, be brokerEnv, adm *kadm.Client, group string, reps []*replica, d time.Duration) {
	t.Helper()
	internal := group + "-repartition"
	target := map[int32]int64{}
	readCommittedToEnd(t, be, map[string]map[int32]kgo.Offset{internal: nil}, func(r *kgo.Record) bool {
		target[r.Partition] = r.Offset + 1
		return true
	})
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		committed, err := adm.FetchOffsets(ctx, group+"-merge")
		cancel()
		var behind []string
		for q, want := range target {
			if err != nil {
				break
			}
			if c, ok := committed.Lookup(internal, q); !ok || c.At < want {
				behind = append(behind, fmt.Sprintf("%d (committed %d, want %d)", q, c.At, want))
			}
		}
		if err == nil && len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			failReplicas(t, reps, "stage 2 (group %s-merge) did not commit the end of %s within %v (err %v): partitions %v", group, internal, d, err, behind)
		}
		time.Sleep(250 * time.Millisecond) // polling the group's commits
	}
}

// readCommittedToEnd reads topics (nil partitions: every partition from the
// start) with read_committed until every partition's end offset, or each
// returns false. It first waits for every transaction on the topics to end
// (waitNoOpenTransactions): a read_committed fetch stops at a partition's
// first open transaction. The end is known by offsets, not inferred from a
// poll that came back empty. Control records are kept, so the last offset of
// a partition (a transaction marker) is seen; each never sees them.
func readCommittedToEnd(t *testing.T, be brokerEnv, topics map[string]map[int32]kgo.Offset, each func(*kgo.Record) bool) {
	t.Helper()
	names := slices.Collect(maps.Keys(topics))
	waitNoOpenTransactions(t, be, names)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	adm := be.adminClient(t)
	ends, err := adm.ListEndOffsets(ctx, names...)
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = adm.ListStartOffsets(ctx, names...)
	}
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(be.plaintext), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(500 * time.Millisecond)}
	left := map[string]map[int32]int64{} // partitions not read to their end: next offset wanted
	for topic, parts := range topics {
		left[topic] = map[int32]int64{}
		ends.Each(func(o kadm.ListedOffset) {
			if st, ok := starts.Lookup(o.Topic, o.Partition); o.Topic != topic || !ok || st.Offset >= o.Offset {
				return // another topic, or nothing left in the log
			}
			if parts == nil {
				left[topic][o.Partition] = o.Offset
			} else if from, ok := parts[o.Partition]; ok && from.EpochOffset().Offset < o.Offset {
				left[topic][o.Partition] = o.Offset
			}
		})
		if parts == nil {
			opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		} else {
			opts = append(opts, kgo.ConsumePartitions(topics))
			break
		}
	}
	remaining := func() int {
		n := 0
		for _, ps := range left {
			n += len(ps)
		}
		return n
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(time.Minute)
	for remaining() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("read_committed: partitions not read to their end within a minute (next offset wanted: %v)", left)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		more := true
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
				delete(left[r.Topic], r.Partition)
			}
			if more && !r.Attrs.IsControl() {
				more = each(r)
			}
		})
		if !more {
			return
		}
	}
}

// waitNoOpenTransactions waits until every partition of topics has its last
// stable offset at its high watermark: no transaction is open on it. Every
// replica has stopped by then; a transaction still open is one a process
// left behind, which the broker aborts after transaction.timeout (1 minute
// in config/rides-scaleout.yaml). It is logged, since it delays every
// read_committed consumer of the topic that long.
func waitNoOpenTransactions(t *testing.T, be brokerEnv, topics []string) {
	t.Helper()
	adm := be.adminClient(t)
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		hw, err := adm.ListEndOffsets(ctx, topics...)
		var lso kadm.ListedOffsets
		if err == nil {
			lso, err = adm.ListCommittedOffsets(ctx, topics...)
		}
		cancel()
		var open []string
		if err == nil {
			hw.Each(func(h kadm.ListedOffset) {
				if l, ok := lso.Lookup(h.Topic, h.Partition); !ok || l.Err != nil || h.Err != nil || l.Offset < h.Offset {
					open = append(open, fmt.Sprintf("%s/%d (stable %d, end %d)", h.Topic, h.Partition, l.Offset, h.Offset))
				}
			})
		}
		switch {
		case err == nil && len(open) == 0:
			if d := time.Since(start); d > time.Second {
				t.Logf("transactions left open on %v ended %v after the check began", topics, d.Round(time.Millisecond))
			}
			return
		case time.Now().After(deadline):
			t.Fatalf("transactions still open after %v (or offsets not listed: %v): %v", time.Since(start).Round(time.Second), err, open)
		}
		time.Sleep(250 * time.Millisecond) // polling the broker's state, not waiting for time to pass
	}
}
