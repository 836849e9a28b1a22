package franz

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// When B joins and takes a partition from A, A's chunks of that partition
// turn stale (Live is false), and acking them afterwards commits nothing:
// the new owner, which has acked nothing, re-reads them from the start.
// A's kept partition still commits on close.
func TestRevokedChunksAreStaleAndTheirAcksNeverCommit(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	produceN(t, addr, "t", 0, 20)
	produceN(t, addr, "t", 1, 20)

	a, _, _ := newTestConsumer(t, addr, nil)
	held := pollUntil(t, a, func(cs []Chunk) bool { return records(cs) >= 40 })
	for _, ch := range held {
		if !ch.Live() {
			t.Fatalf("chunk of partition %d stale before any rebalance", ch.Partition)
		}
	}

	b, _, _ := newTestConsumer(t, addr, nil)
	// B gets records only once A has revoked what moves to B.
	got := pollUntil(t, b, func(cs []Chunk) bool { return len(cs) > 0 })
	moved := got[0].Partition
	for _, ch := range held {
		if live := ch.Live(); live == (ch.Partition == moved) {
			t.Errorf("partition %d chunk Live() = %v after partition %d moved to B", ch.Partition, live, moved)
		}
	}

	for _, ch := range held {
		ch.Ack() // late for the moved partition
	}
	a.Close() // leaves the group: commits what it still owns
	kept := 1 - moved
	if off := groupCommitted(t, addr, "g", "t", kept); off != 20 {
		t.Errorf("kept partition %d committed %d after A acked it and closed, want 20", kept, off)
	}
	if off := groupCommitted(t, addr, "g", "t", moved); off != -1 {
		t.Errorf("moved partition %d committed at %d by acks that arrived after its revoke; want no commit (B acked nothing)", moved, off)
	}
}
