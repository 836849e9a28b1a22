package franz

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

// purgeMetrics counts Purged calls per outcome.
type purgeMetrics struct {
	testMetrics
	pmu          sync.Mutex
	purged, errs int
}

func (m *purgeMetrics) Purged(_ string, _ int32, err error) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	if err != nil {
		m.errs++
	} else {
		m.purged++
	}
}

func (m *purgeMetrics) counts() (int, int) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	return m.purged, m.errs
}

// testClock is a clock moved by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newPurgingConsumer starts a consumer of topic t in group g that purges
// at most once per minute of clk.
func newPurgingConsumer(t *testing.T, addr string, clk *testClock, mod func(*ConsumerConfig)) (*Consumer, *testLog, *purgeMetrics) {
	t.Helper()
	conf := ConsumerConfig{
		Client:          ClientConfig{SeedBrokers: []string{addr}},
		Topics:          TopicSpec{Topics: []string{"t"}},
		Group:           "g",
		CheckpointLimit: 1000,
		CommitPeriod:    time.Hour,
		FetchMaxWait:    100 * time.Millisecond,
		Purge:           &PurgeConfig{Interval: time.Minute},
	}
	if mod != nil {
		mod(&conf)
	}
	log, met := &testLog{}, &purgeMetrics{}
	c := NewConsumer(conf, log, met)
	c.purge.now = clk.now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, log, met
}

// logStarts returns the log start offset of partitions 0..n-1 of topic t.
func logStarts(t *testing.T, addr string, n int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	starts, err := testAdmin(t, addr).ListStartOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, n)
	for p := range out {
		o, ok := starts.Lookup("t", int32(p))
		if !ok || o.Err != nil {
			t.Fatalf("no start offset for t/%d: %v", p, o.Err)
		}
		out[p] = o.Offset
	}
	return out
}

// offsetsFrom reads partition p of t from the log start to its end.
func offsetsFrom(t *testing.T, addr string, p int32, end int64) []int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {p: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []int64
	for len(got) == 0 || got[len(got)-1] < end-1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("t/%d: read %v, not up to %d", p, got, end-1)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Offset) })
	}
	return got
}

// commitTxn commits a transaction marking, per partition, the record at
// the given offset: the committed offset is one past it.
func commitTxn(t *testing.T, c *Consumer, chunks []Chunk, marks map[int32]int64) {
	t.Helper()
	if err := c.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		for _, r := range ch.Records {
			if o, ok := marks[r.Partition]; ok && r.Offset == o {
				c.MarkTxn(r)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := c.EndTxn(ctx, true); err != nil || !ok {
		t.Fatalf("transaction: committed=%v err=%v", ok, err)
	}
}

// endTxnMarkingAll runs one transaction that marks every record of chunks
// and ends it (commit or abort); it reports whether it committed.
func endTxnMarkingAll(t *testing.T, c *Consumer, chunks []Chunk, commit bool) bool {
	t.Helper()
	if err := c.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		for _, r := range ch.Records {
			c.MarkTxn(r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := c.EndTxn(ctx, commit)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A committed transaction deletes the records below its committed offsets
// (the log start moves there) and nothing at or after them; a commit within
// the interval deletes nothing, the first commit after it deletes up to the
// latest committed offset.
func TestPurgeDeletesOnlyBelowTheCommittedOffsets(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	produceN(t, addr, "t", 0, 10)
	produceN(t, addr, "t", 1, 10)
	clk := &testClock{t: time.Unix(1e9, 0)}
	c, _, met := newPurgingConsumer(t, addr, clk, func(cc *ConsumerConfig) {
		cc.Txn = &TxnConfig{ID: "purge-1", Timeout: 10 * time.Second}
	})
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 20 })

	commitTxn(t, c, chunks, map[int32]int64{0: 5, 1: 9})
	if got := []int64{groupCommitted(t, addr, "g", "t", 0), groupCommitted(t, addr, "g", "t", 1)}; got[0] != 6 || got[1] != 10 {
		t.Fatalf("committed %v, want [6 10]", got)
	}
	if got := logStarts(t, addr, 2); got[0] != 6 || got[1] != 10 {
		t.Fatalf("after the first commit log starts are %v, want the committed offsets [6 10]", got)
	}
	if got := offsetsFrom(t, addr, 0, 10); len(got) != 4 || got[0] != 6 {
		t.Fatalf("t/0 holds offsets %v after the purge, want 6..9", got)
	}

	clk.add(time.Minute - time.Nanosecond)
	commitTxn(t, c, chunks, map[int32]int64{0: 7})
	if got := logStarts(t, addr, 2); got[0] != 6 {
		t.Fatalf("a commit within the interval moved t/0's log start to %d, want 6", got[0])
	}
	clk.add(time.Nanosecond)
	commitTxn(t, c, chunks, map[int32]int64{0: 8})
	if got := logStarts(t, addr, 2); got[0] != 9 || got[1] != 10 {
		t.Fatalf("after the interval log starts are %v, want [9 10]", got)
	}
	if got := offsetsFrom(t, addr, 0, 10); len(got) != 1 || got[0] != 9 {
		t.Fatalf("t/0 holds offsets %v, want only 9 (not committed)", got)
	}
	if purged, errs := met.counts(); purged != 3 || errs != 0 {
		t.Fatalf("Purged counted %d ok and %d failed partitions, want 3 and 0", purged, errs)
	}
}

// A partition revoked from A is not purged by A, although A committed
// offsets for it that were not purged yet; A's kept partition is. Plain
// group commits (autocommit) purge too.
func TestPurgeSkipsRevokedPartitions(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	produceN(t, addr, "t", 0, 10)
	produceN(t, addr, "t", 1, 10)
	clk := &testClock{t: time.Unix(1e9, 0)}
	a, _, _ := newPurgingConsumer(t, addr, clk, func(cc *ConsumerConfig) { cc.CommitPeriod = 100 * time.Millisecond })
	ackAll := func(chunks []Chunk) {
		for _, ch := range chunks {
			ch.Ack()
		}
	}
	ackAll(pollUntil(t, a, func(cs []Chunk) bool { return records(cs) >= 20 }))
	waitFor(t, "the first commit purges both partitions to 10", func() bool {
		s := logStarts(t, addr, 2)
		return s[0] == 10 && s[1] == 10
	})

	// Committed, not purged: the interval has not passed.
	produceN(t, addr, "t", 0, 10)
	produceN(t, addr, "t", 1, 10)
	ackAll(pollUntil(t, a, func(cs []Chunk) bool { return records(cs) >= 20 }))
	waitFor(t, "A commits 20 on both partitions", func() bool {
		return groupCommitted(t, addr, "g", "t", 0) == 20 && groupCommitted(t, addr, "g", "t", 1) == 20
	})

	b, _, _ := newTestConsumer(t, addr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { _, _ = b.Poll(ctx) }() // B joins; nothing to fetch after 20
	waitFor(t, "B owns a partition", func() bool { return b.Assigned() == 1 && a.Assigned() == 1 })
	var moved int32 = -1
	b.mu.Lock()
	for tp := range b.assigned {
		moved = tp.partition
	}
	b.mu.Unlock()
	kept := 1 - moved

	clk.add(time.Minute)
	produceN(t, addr, "t", kept, 10)
	ackAll(pollUntil(t, a, func(cs []Chunk) bool { return records(cs) >= 10 }))
	waitFor(t, "A purges its kept partition to 30", func() bool { return logStarts(t, addr, 2)[kept] == 30 })
	if got := logStarts(t, addr, 2)[moved]; got != 10 {
		t.Fatalf("moved partition %d: log start %d after A's purge, want 10 (A's commit of 20 is no longer A's to purge)", moved, got)
	}
}

// A refused DeleteRecords is logged and counted, not fatal: the records stay
// until the next purge, which deletes below the latest committed offset.
func TestPurgeFailureIsLoggedAndCounted(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	addr := kc.ListenAddrs()[0]
	kc.ControlKey(int16(kmsg.DeleteRecords), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.DeleteRecordsRequest)
		resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewDeleteRecordsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewDeleteRecordsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	produceN(t, addr, "t", 0, 10)
	clk := &testClock{t: time.Unix(1e9, 0)}
	c, log, met := newPurgingConsumer(t, addr, clk, func(cc *ConsumerConfig) {
		cc.Txn = &TxnConfig{ID: "purge-2", Timeout: 10 * time.Second}
	})
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 10 })
	commitTxn(t, c, chunks, map[int32]int64{0: 4})
	if purged, errs := met.counts(); purged != 0 || errs != 1 {
		t.Fatalf("Purged counted %d ok and %d failed, want 0 and 1", purged, errs)
	}
	if l := log.find("WARN", "purging t/0 below committed offset 5 failed"); l == "" {
		t.Fatal("no warning for the failed purge")
	}
	if got := logStarts(t, addr, 1)[0]; got != 0 {
		t.Fatalf("log start %d after a refused purge, want 0", got)
	}
	// Not fatal: the next commit after the interval purges (the control
	// answered one request only).
	clk.add(time.Minute)
	commitTxn(t, c, chunks, map[int32]int64{0: 6})
	if got := logStarts(t, addr, 1)[0]; got != 7 {
		t.Fatalf("log start %d after the next purge, want 7", got)
	}
	if purged, errs := met.counts(); purged != 1 || errs != 1 {
		t.Fatalf("Purged counted %d ok and %d failed, want 1 and 1", purged, errs)
	}
}

// waitFor polls cond (another goroutine's commit) until a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling the broker's state
	}
}

// A committed transaction with offsets proves membership, as an accepted
// autocommit does: a transactional consumer's proof no longer ages until
// every Confirm of the process asks the coordinator.
func TestACommittedTransactionProvesMembership(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 3)
	c, _, _ := newPurgingConsumer(t, addr, &testClock{t: time.Unix(1e9, 0)}, func(cc *ConsumerConfig) {
		cc.Txn = &TxnConfig{ID: "proof-1", Timeout: 10 * time.Second}
	})
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 3 })
	c.proofMu.Lock()
	c.proof = time.Time{} // as after half a session timeout without proof
	c.proofMu.Unlock()
	commitTxn(t, c, chunks, map[int32]int64{0: 2})
	c.proofMu.Lock()
	age := time.Since(c.proof)
	c.proofMu.Unlock()
	if age > time.Minute {
		t.Fatalf("proof %v old after a committed transaction, want fresh", age)
	}
}

// A committed transaction reports its committed offsets to the barrier's
// OnAcked listeners (stage merge forgets the emissions of those records);
// an aborted one reports nothing.
func TestACommittedTransactionReportsItsOffsetsAcked(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	produceN(t, addr, "t", 0, 3)
	produceN(t, addr, "t", 1, 2)
	c, _, _ := newPurgingConsumer(t, addr, &testClock{t: time.Unix(1e9, 0)}, func(cc *ConsumerConfig) {
		cc.Txn = &TxnConfig{ID: "acked-1", Timeout: 10 * time.Second}
	})
	b := commitbarrier.New()
	c.barrier = b
	var mu sync.Mutex
	got := map[string]int64{}
	b.OnAcked(func(topic string, partition int32, next int64) {
		mu.Lock()
		got[fmt.Sprintf("%s/%d", topic, partition)] = next
		mu.Unlock()
	})
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 5 })
	if endTxnMarkingAll(t, c, chunks, false) {
		t.Fatal("an aborted transaction committed")
	}
	mu.Lock()
	if len(got) != 0 {
		t.Fatalf("an aborted transaction reported %v acked", got)
	}
	mu.Unlock()

	chunks = pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 5 }) // read again after the rewind
	commitTxn(t, c, chunks, map[int32]int64{0: 1, 1: 1})
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int64{"t/0": 2, "t/1": 2}; !maps.Equal(got, want) {
		t.Fatalf("acked %v after the commit, want %v", got, want)
	}
}
