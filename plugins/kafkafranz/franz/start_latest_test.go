package franz

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// start_offset latest on a group without commits: the start offset is
// committed when the partitions are assigned, before any record. A process
// killed before its first ack (here: it never polls) then resumes there, and
// the records written while it was down are delivered instead of skipped by
// a second "latest".
func TestLatestStartIsCommittedBeforeTheFirstRecord(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 10) // before the start: not ours under latest
	adjusted := make(chan struct{})
	c := connectTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.StartOffset = "latest" },
		func(c *Consumer) { c.afterAdjust = func() { close(adjusted) } })
	<-adjusted
	if got := groupCommitted(t, addr, "g", "t", 0); got != 10 {
		t.Fatalf("committed %d once assigned at latest, want the log end 10", got)
	}
	c.Close() // as a crash would: nothing polled, nothing acked

	produceN(t, addr, "t", 0, 5) // while no process runs
	c2 := connectTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.StartOffset = "latest" }, nil)
	chunks := pollUntil(t, c2, func(cs []Chunk) bool { return records(cs) >= 5 })
	if first := chunks[0].Records[0].Offset; first != 10 {
		t.Fatalf("restart delivered from offset %d, want 10 (the records written while down)", first)
	}
}
