package franz

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceTxns writes n transactions of one record each to topic partition 0:
// every commit marker leaves a one-offset gap between the records a
// read_committed consumer sees.
func produceTxns(t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("tx-"+topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for i := range n {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

// Commit markers are not data loss, and telling them apart must not cost a
// ListOffsets request per poll: the fetch response carries the log start,
// which proves the records of the gap were not deleted. The consumer polls
// one transaction at a time (each poll after the first sees a marker gap);
// only the assignment's own offset check may list offsets.
func TestConsumerMarkerGapsSendNoListOffsets(t *testing.T) {
	c0, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c0.Close)
	addr := c0.ListenAddrs()[0]
	var lists atomic.Int64
	c0.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c0.KeepControl()
		lists.Add(1)
		return nil, nil, false
	})
	const txns = 20
	produceTxns(t, addr, "t", 1)
	c, log, met := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.IsolationLevel = "read_committed"; cc.FailOnDataLoss = true })
	pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 1 })
	before := lists.Load()
	for i := 1; i < txns; i++ {
		produceTxns(t, addr, "t", 1)
		got := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 1 })
		if off := got[0].Records[0].Offset; off != int64(2*i) {
			t.Fatalf("transaction %d: first record at offset %d, want %d (one marker per transaction)", i, off, 2*i)
		}
	}
	if n := lists.Load() - before; n != 0 {
		t.Fatalf("%d ListOffsets requests for %d polls past commit markers, want 0", n, txns-1)
	}
	if line := log.find("WARN", "data loss"); line != "" {
		t.Fatalf("commit markers reported as loss: %q", line)
	}
	met.mu.Lock()
	defer met.mu.Unlock()
	if len(met.resets) != 0 {
		t.Fatalf("offset resets %v, want none", met.resets)
	}
}

// Chunk.Start is the committed offset the group resumed from, -1 without
// a commit: with transactions the first record delivered is past it (its
// commit marker), so a stage comparing its state with the first record
// would take a current state for a stale one.
func TestConsumerChunkStartIsTheCommittedOffset(t *testing.T) {
	for _, commit := range []int64{-1, 4} {
		t.Run(fmt.Sprint(commit), func(t *testing.T) {
			addr := cluster(t, kfake.SeedTopics(1, "t"))
			produceTxns(t, addr, "t", 6) // records at 0, 2, 4, ...; markers between
			if commit >= 0 {
				cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
				if err != nil {
					t.Fatal(err)
				}
				err = kadmCommit(cl, "g", "t", 0, commit-1) // the marker of the record before
				cl.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.IsolationLevel = "read_committed" })
			got := pollUntil(t, c, func(cs []Chunk) bool { return len(cs) > 0 })
			want := commit - 1
			if commit < 0 {
				want = -1
			}
			if got[0].Start != want {
				t.Fatalf("Start %d, want %d (first record at %d)", got[0].Start, want, got[0].Records[0].Offset)
			}
			if commit >= 0 && got[0].Records[0].Offset != commit {
				t.Fatalf("first record at %d, want %d", got[0].Records[0].Offset, commit)
			}
		})
	}
}
