package franz

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// start_offset latest on a group without commits: the start offset is
// committed when the partitions are assigned, before any record. A process
// killed before its first ack (here: it never polls) then resumes there, and
// the records written while it was down are delivered instead of skipped by
// a second "latest".
func TestLatestStartIsCommittedBeforeTheFirstRecord(t *testing.T) {
	checkLatestStartCommittedBeforeTheFirstRecord(t, func(cc *ConsumerConfig) { cc.StartOffset = "latest" })
}

// The same for a transactional consumer (stage 1 of config/rides-scaleout.yaml),
// which commits its offsets in its transactions: before, it committed nothing
// until its first transaction, and a replica killed before that (idle topic,
// start-up, or its first transaction still open) skipped, on restart, every
// record written meanwhile (red team, 4 Dec, real broker: two idle replicas
// SIGKILLed, 8 s of a live stream written, restarted: 101 of 581 rows
// missing or short).
func TestLatestStartOfATransactionalConsumerIsCommittedBeforeTheFirstRecord(t *testing.T) {
	checkLatestStartCommittedBeforeTheFirstRecord(t, func(cc *ConsumerConfig) { cc.StartOffset, cc.Txn = "latest", &TxnConfig{ID: "g-0"} })
}

// checkLatestStartCommittedBeforeTheFirstRecord: a consumer made by opt
// commits the log end at assignment, and after a close with nothing polled
// (a crash), its restart delivers the records written while it was down.
func checkLatestStartCommittedBeforeTheFirstRecord(t *testing.T, opt func(*ConsumerConfig)) {
	t.Helper()
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 10) // before the start: not ours under latest
	c := connectAdjusted(t, addr, opt)
	if got := groupCommitted(t, addr, "g", "t", 0); got != 10 {
		t.Fatalf("committed %d once assigned at latest, want the log end 10", got)
	}
	c.Close() // as a crash would: nothing polled, nothing acked, no transaction

	produceN(t, addr, "t", 0, 5) // while no process runs
	if first := firstDelivered(t, addr, opt, 5); first != 10 {
		t.Fatalf("restart delivered from offset %d, want 10 (the records written while down)", first)
	}
}

// connectAdjusted connects a test consumer and returns once its offsets are
// adjusted for its assignment (the start committed, under latest).
func connectAdjusted(t *testing.T, addr string, mod func(*ConsumerConfig)) *Consumer {
	t.Helper()
	adjusted := make(chan struct{})
	c := connectTestConsumer(t, addr, mod, func(c *Consumer) { c.afterAdjust = func() { close(adjusted) } })
	<-adjusted
	return c
}

// firstDelivered connects a new consumer (a restart) and returns the offset
// of the first record it delivers, once n records are in.
func firstDelivered(t *testing.T, addr string, mod func(*ConsumerConfig), n int) int64 {
	t.Helper()
	c := connectTestConsumer(t, addr, mod, nil)
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= n })
	return chunks[0].Records[0].Offset
}

// The same under read_committed, with a transaction open at the start: the
// start committed is the last stable offset (where that transaction
// begins), not the high watermark, so its records, committed while no
// process runs, are delivered after a restart.
func TestLatestStartUnderReadCommittedIsTheLastStableOffset(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 10) // before the start: not ours under latest
	tx, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("tx-open"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	ctx := context.Background()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := tx.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: 0, Value: fmt.Appendf(nil, "tx%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	readCommitted := func(cc *ConsumerConfig) { cc.StartOffset, cc.IsolationLevel = "latest", "read_committed" }
	c := connectAdjusted(t, addr, readCommitted)
	if got := groupCommitted(t, addr, "g", "t", 0); got != 10 {
		t.Fatalf("committed %d once assigned at latest under read_committed, want the last stable offset 10 (a transaction is open at 10-12)", got)
	}
	c.Close() // as a crash would: nothing polled, nothing acked

	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil { // while no process runs
		t.Fatal(err)
	}
	if first := firstDelivered(t, addr, readCommitted, 3); first != 10 {
		t.Fatalf("restart delivered from offset %d, want 10 (the transaction committed while down)", first)
	}
}
