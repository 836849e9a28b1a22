package franz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testLog records what the consumer logs.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) add(level, f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(f, a...))
}
func (l *testLog) Debugf(f string, a ...any) { l.add("DEBUG", f, a...) }
func (l *testLog) Infof(f string, a ...any)  { l.add("INFO", f, a...) }
func (l *testLog) Warnf(f string, a ...any)  { l.add("WARN", f, a...) }
func (l *testLog) Errorf(f string, a ...any) { l.add("ERROR", f, a...) }

func (l *testLog) find(level, substr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.HasPrefix(s, level) && strings.Contains(s, substr) {
			return s
		}
	}
	return ""
}

// testMetrics counts what the consumer reports.
type testMetrics struct {
	mu      sync.Mutex
	records int
	paused  int
	commits int
	resets  map[string]int
}

func (m *testMetrics) Fetched(_ string, _ int32, records, _ int) {
	m.mu.Lock()
	m.records += records
	m.mu.Unlock()
}
func (m *testMetrics) Lag(string, int32, int64) {}
func (m *testMetrics) PausedPartitions(n int) {
	m.mu.Lock()
	m.paused = n
	m.mu.Unlock()
}
func (m *testMetrics) Committed() {
	m.mu.Lock()
	m.commits++
	m.mu.Unlock()
}
func (m *testMetrics) OffsetReset(topic string, partition int32) {
	m.mu.Lock()
	if m.resets == nil {
		m.resets = map[string]int{}
	}
	m.resets[fmt.Sprintf("%s/%d", topic, partition)]++
	m.mu.Unlock()
}

func cluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func produceN(t *testing.T, addr, topic string, partition int32, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: fmt.Appendf(nil, "%d", i)}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// testAdmin is an admin client of the broker at addr, closed with the test.
func testAdmin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func groupCommitted(t *testing.T, addr, group, topic string, partition int32) int64 {
	t.Helper()
	offs, err := testAdmin(t, addr).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, partition)
	if !ok {
		return -1
	}
	return o.At
}

func newTestConsumer(t *testing.T, addr string, mod func(*ConsumerConfig)) (*Consumer, *testLog, *testMetrics) {
	t.Helper()
	log, met := &testLog{}, &testMetrics{}
	c := connectTestConsumer(t, addr, mod, func(c *Consumer) { c.log, c.met = log, met })
	return c, log, met
}

// connectTestConsumer connects a consumer of topic t in group g whose commits
// happen only where the test says; mod changes its config, prep the consumer
// before Connect (log, metrics, ownership record, commit barrier).
func connectTestConsumer(t *testing.T, addr string, mod func(*ConsumerConfig), prep func(*Consumer)) *Consumer {
	t.Helper()
	conf := ConsumerConfig{
		Client:          ClientConfig{SeedBrokers: []string{addr}},
		Topics:          TopicSpec{Topics: []string{"t"}},
		Group:           "g",
		CheckpointLimit: 25,
		CommitPeriod:    time.Hour, // commits happen only where the test says
		FetchMaxWait:    100 * time.Millisecond,
	}
	if mod != nil {
		mod(&conf)
	}
	c := NewConsumer(conf, &testLog{}, &testMetrics{})
	if prep != nil {
		prep(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// pollUntil polls until cond holds on the chunks gathered so far. The
// deadline only guards against a hang.
func pollUntil(t *testing.T, c *Consumer, cond func([]Chunk) bool) []Chunk {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var all []Chunk
	for !cond(all) {
		chunks, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v (after %d chunks)", err, len(all))
		}
		all = append(all, chunks...)
	}
	return all
}

func records(chunks []Chunk) int {
	n := 0
	for _, ch := range chunks {
		n += len(ch.Records)
	}
	return n
}

// A chunk held un-acked pins the commit below it, even when every later chunk
// is acked; after a crash (no commit on the way out) a new consumer resumes
// at the held chunk, so its records are delivered again.
func TestConsumerCrashNeverCommitsPastUnacked(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 100)

	c, _, _ := newTestConsumer(t, addr, nil)
	chunks := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 100 })
	if len(chunks) < 3 {
		t.Fatalf("want the log split in several chunks (checkpoint_limit 25), got %d", len(chunks))
	}
	held := chunks[1]
	for i, ch := range chunks {
		if i != 1 {
			ch.Ack()
		}
	}
	if err := c.client().CommitMarkedOffsets(context.Background()); err != nil {
		t.Fatal(err)
	}
	firstHeld := held.Records[0].Offset
	if got := groupCommitted(t, addr, "g", "t", 0); got != firstHeld {
		t.Fatalf("committed %d, want %d (the first un-acked offset)", got, firstHeld)
	}

	// Crash: the client goes away without committing.
	c.mu.Lock()
	c.abandon = true
	c.mu.Unlock()
	c.Close()
	c.Close() // idempotent
	if got := groupCommitted(t, addr, "g", "t", 0); got != firstHeld {
		t.Fatalf("after crash committed %d, want %d", got, firstHeld)
	}

	c2, _, _ := newTestConsumer(t, addr, nil)
	again := pollUntil(t, c2, func(cs []Chunk) bool { return records(cs) >= int(100-firstHeld) })
	if got := again[0].Records[0].Offset; got != firstHeld {
		t.Fatalf("restart resumed at %d, want %d", got, firstHeld)
	}
	seen := map[int64]bool{}
	for _, ch := range again {
		for _, r := range ch.Records {
			seen[r.Offset] = true
		}
		ch.Ack()
	}
	for _, r := range held.Records {
		if !seen[r.Offset] {
			t.Fatalf("held record %d was not re-delivered", r.Offset)
		}
	}
	c2.Close() // graceful: commits everything acked
	if got := groupCommitted(t, addr, "g", "t", 0); got != 100 {
		t.Fatalf("after graceful close committed %d, want 100", got)
	}
}

// checkpoint_limit un-acked records pause the partition; acks resume it.
func TestConsumerCheckpointLimitPauses(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 10)
	c, _, met := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.CheckpointLimit = 10 })

	first := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 10 })
	if p := c.client().PauseFetchPartitions(nil); len(p["t"]) != 1 {
		t.Fatalf("partition not paused with 10 un-acked records: %v", p)
	}
	met.mu.Lock()
	paused := met.paused
	met.mu.Unlock()
	if paused != 1 {
		t.Fatalf("kafka_input_paused_partitions = %d, want 1", paused)
	}

	produceN(t, addr, "t", 0, 10)
	// While paused nothing new arrives. A bounded poll shows the absence.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	got, err := c.Poll(ctx)
	cancel()
	if records(got) != 0 {
		t.Fatalf("paused partition delivered %d records (err %v)", records(got), err)
	}

	for _, ch := range first {
		ch.Ack()
	}
	if p := c.client().PauseFetchPartitions(nil); len(p["t"]) != 0 {
		t.Fatalf("partition still paused after acks: %v", p)
	}
	rest := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 10 })
	if rest[0].Records[0].Offset != 10 {
		t.Fatalf("resumed at %d, want 10", rest[0].Records[0].Offset)
	}
}

// A commit that retention has overtaken is reset to the log start per
// start_offset, logged with the skipped range and counted; with
// fail_on_data_loss the consumer stops with ErrDataLoss.
func TestConsumerOffsetOutOfRange(t *testing.T) {
	c0, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c0.Close)
	addr := c0.ListenAddrs()[0]
	produceN(t, addr, "t", 0, 20)

	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.CheckpointLimit = 10 })
	for _, ch := range pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 20 }) {
		if ch.Records[0].Offset < 10 {
			ch.Ack()
		}
	}
	c.Close()
	if got := groupCommitted(t, addr, "g", "t", 0); got != 10 {
		t.Fatalf("committed %d, want 10", got)
	}
	produceN(t, addr, "t", 0, 40) // offsets 20..59
	if err := c0.DeleteRecords("t", 0, 45); err != nil {
		t.Fatal(err)
	}

	c2, log, met := newTestConsumer(t, addr, nil)
	got := pollUntil(t, c2, func(cs []Chunk) bool { return records(cs) >= 15 })
	if off := got[0].Records[0].Offset; off != 45 {
		t.Fatalf("resumed at %d, want the log start 45", off)
	}
	if line := log.find("WARN", "topic t partition 0"); !strings.Contains(line, "[10, 45)") {
		t.Fatalf("warning does not name the skipped range [10, 45): %q; log: %q", line, log.lines)
	}
	met.mu.Lock()
	resets := met.resets["t/0"]
	met.mu.Unlock()
	if resets != 1 {
		t.Fatalf("kafka_input_offset_resets_total{t,0} = %d, want 1", resets)
	}
	c2.Close()

	// Same situation with fail_on_data_loss: the consumer stops.
	produceN(t, addr, "t", 0, 10) // 60..69
	if err := c0.DeleteRecords("t", 0, 65); err != nil {
		t.Fatal(err)
	}
	c3, log3, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.FailOnDataLoss = true })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, err := c3.Poll(ctx)
		if errors.Is(err, ErrDataLoss) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("fail_on_data_loss: no ErrDataLoss from Poll")
		}
	}
	if log3.find("ERROR", "fail_on_data_loss") == "" {
		t.Fatal("no error logged for the data loss")
	}
}

// Retention overtakes a consumer mid-stream (its partition paused by
// checkpoint_limit): the loss is reported with its range whatever the
// start_offset policy, and consumption resumes at the log start.
func TestConsumerMidStreamRetention(t *testing.T) {
	for _, policy := range []string{"earliest", "latest", "committed"} {
		t.Run(policy, func(t *testing.T) {
			c0, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c0.Close)
			addr := c0.ListenAddrs()[0]
			produceN(t, addr, "t", 0, 10)
			if policy != "earliest" {
				// Start from a commit at 0: with latest or committed the
				// group would otherwise not read the first records.
				cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
				if err != nil {
					t.Fatal(err)
				}
				err = kadmCommit(cl, "g", "t", 0, 0)
				cl.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			c, log, met := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.CheckpointLimit = 10; cc.StartOffset = policy })
			first := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 10 }) // now paused

			produceN(t, addr, "t", 0, 40) // 10..49
			if err := c0.DeleteRecords("t", 0, 30); err != nil {
				t.Fatal(err)
			}
			for _, ch := range first {
				ch.Ack() // resumes: the next fetch at 10 is below the log start
			}
			got := pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 20 })
			if off := got[0].Records[0].Offset; off == 10 {
				// A fetch issued just before the pause took 10..49 before they
				// were deleted: nothing was lost, so nothing may be reported.
				if records(got) < 40 {
					got = append(got, pollUntil(t, c, func(cs []Chunk) bool { return records(got)+records(cs) >= 40 })...)
				}
				if line := log.find("WARN", "topic t partition 0"); line != "" {
					t.Fatalf("records 10..49 were delivered, yet a loss was reported: %q", line)
				}
				t.Skip("timing: the consumer fetched 10..49 before the deletion (delivered, no loss); the loss path needs the fetch after it")
			} else if off != 30 {
				t.Fatalf("resumed at %d, want the log start 30", off)
			}
			if line := log.find("WARN", "topic t partition 0"); !strings.Contains(line, "[10, 30)") {
				t.Fatalf("no warning naming the lost range [10, 30): %q", line)
			}
			met.mu.Lock()
			defer met.mu.Unlock()
			if met.resets["t/0"] != 1 {
				t.Fatalf("offset resets = %d, want 1", met.resets["t/0"])
			}
		})
	}
}

func kadmCommit(cl *kgo.Client, group, topic string, partition int32, offset int64) error {
	var offs kadm.Offsets
	offs.AddOffset(topic, partition, offset, -1)
	resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), group, offs)
	if err != nil {
		return err
	}
	return resp.Error()
}

// With static membership (instance_id) franz-go does not leave the group on
// close; acknowledged offsets must still be committed on a graceful close.
func TestConsumerStaticMemberCommitsOnClose(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t"))
	produceN(t, addr, "t", 0, 30)
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.InstanceID = "rides-0" })
	for _, ch := range pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 30 }) {
		ch.Ack()
	}
	c.Close()
	if got := groupCommitted(t, addr, "g", "t", 0); got != 30 {
		t.Fatalf("committed %d after a graceful close with instance_id, want 30", got)
	}
}

// start_offset: committed, and retention moves the log start after the
// committed offset was checked against the log (adjustOffsets) but before the
// first fetch: the window that resetOutOfRange was written for. Evidence for
// docs/kafka.md: franz-go (v1.22.3) does not surface OffsetOutOfRange here,
// it resumes at the log start by itself (the committed offset replaces the
// start offset, and the reset offset, the log start, applies). The loss is
// still reported with its range (checkGaps) and counted, and with
// fail_on_data_loss the consumer stops before delivering anything.
func TestConsumerCommittedOutOfRangeBeforeFirstFetch(t *testing.T) {
	for _, failOnLoss := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail_on_data_loss=%v", failOnLoss), func(t *testing.T) {
			c0, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c0.Close)
			addr := c0.ListenAddrs()[0]
			produceN(t, addr, "t", 0, 50)
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				t.Fatal(err)
			}
			err = kadmCommit(cl, "g", "t", 0, 10)
			cl.Close()
			if err != nil {
				t.Fatal(err)
			}

			conf := ConsumerConfig{
				Client:          ClientConfig{SeedBrokers: []string{addr}},
				Topics:          TopicSpec{Topics: []string{"t"}},
				Group:           "g",
				StartOffset:     "committed",
				CheckpointLimit: 100,
				CommitPeriod:    time.Hour,
				FetchMaxWait:    100 * time.Millisecond,
				FailOnDataLoss:  failOnLoss,
			}
			log, met := &testLog{}, &testMetrics{}
			c := NewConsumer(conf, log, met)
			var deleteErr error
			c.afterAdjust = func() { deleteErr = c0.DeleteRecords("t", 0, 30) }
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)

			var got []Chunk
			for records(got) < 20 {
				chunks, err := c.Poll(ctx)
				if failOnLoss {
					if errors.Is(err, ErrDataLoss) {
						if n := records(got); n != 0 {
							t.Errorf("%d records delivered before stopping on the loss", n)
						}
						if log.find("ERROR", "[10, 30)") == "" {
							t.Errorf("no error naming the lost range [10, 30); log: %v", log.lines)
						}
						return
					}
				}
				if err != nil {
					t.Fatalf("poll: %v (log: %v)", err, log.lines)
				}
				got = append(got, chunks...)
			}
			if deleteErr != nil {
				t.Fatal(deleteErr)
			}
			if failOnLoss {
				t.Fatal("fail_on_data_loss: records delivered past the loss instead of stopping")
			}
			if off := got[0].Records[0].Offset; off != 30 {
				t.Fatalf("resumed at %d, want the log start 30", off)
			}
			line := log.find("WARN", "topic t partition 0")
			if !strings.Contains(line, "records [10, 30) were deleted (log start is now 30)") {
				t.Fatalf("no warning naming the lost range [10, 30) from the offset jump: %q", line)
			}
			if line := log.find("WARN", "out of range"); line != "" {
				// franz-go changed: OffsetOutOfRange now reaches us and
				// resetOutOfRange ran; update docs/kafka.md (Data loss).
				t.Logf("resetOutOfRange ran: %s", line)
			}
			met.mu.Lock()
			defer met.mu.Unlock()
			if met.resets["t/0"] != 1 {
				t.Fatalf("offset resets = %d, want 1", met.resets["t/0"])
			}
		})
	}
}
