package franz

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// A restart tells latest's start pin from progress (Chunk.Commit): the
// start offset committed at assignment reads "start" after a crash before
// any ack and after a graceful stop with nothing acked, and only an offset
// committed for acked records reads "progress". tumbling_window holds a
// state that started empty on progress only: before, the start pin looked
// like progress and a restart after an early SIGKILL held for ever.
func TestTheCommitKindTellsTheLatestStartFromProgress(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 10) // before the start: not ours under latest
	latest := func(cc *ConsumerConfig) { cc.StartOffset = "latest" }
	c := connectAdjusted(t, addr, latest)
	c.Close() // a crash before any record: only the start is committed

	produceN(t, addr, "t", 0, 5)
	c = connectTestConsumer(t, addr, latest, nil)
	if ch := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 5 }); ch[0].Commit != CommitStart {
		t.Fatalf("after a crash before any ack: commit %q, want %q", ch[0].Commit, CommitStart)
	}
	c.Close() // graceful, nothing acked: nothing committed over the start

	c = connectTestConsumer(t, addr, latest, nil)
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 5 })
	if chunks[0].Commit != CommitStart {
		t.Fatalf("after a graceful stop with nothing acked: commit %q, want %q", chunks[0].Commit, CommitStart)
	}
	for _, ch := range chunks {
		ch.Ack()
	}
	c.Close() // commits the acked records
	if got := groupCommitted(t, addr, "g", "t", 0); got != 15 {
		t.Fatalf("committed %d after acking every record, want 15", got)
	}

	produceN(t, addr, "t", 0, 1)
	c = connectTestConsumer(t, addr, latest, nil)
	if ch := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 1 }); ch[0].Commit != CommitProgress {
		t.Fatalf("after records were acked and committed: commit %q, want %q", ch[0].Commit, CommitProgress)
	}
}

// earliest commits nothing at assignment: a group's first process reads
// "none".
func TestTheCommitKindOfAGroupWithoutCommitsIsNone(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 3)
	c := connectTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.StartOffset = "earliest" }, nil)
	if ch := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 3 }); ch[0].Commit != CommitNone {
		t.Fatalf("commit %q, want %q", ch[0].Commit, CommitNone)
	}
}
