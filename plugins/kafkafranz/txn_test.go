package kafkafranz

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/clicmd"
	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// copyStream is a Benthos stream copying topic src to dst in the input's
// transactions, upper-casing values on the way.
type copyStream struct {
	stream *service.Stream
	done   chan error
}

func startCopy(t *testing.T, addr, txnID, scope string) *copyStream {
	t.Helper()
	return runStream(t, fmt.Sprintf(`
input:
  label: src
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topics: [ A ]
    consumer_group: copy
    checkpoint_limit: 300
    batch_scope: %[3]s
    batching: { count: 100, period: 20ms }
    transaction:
      enabled: true
      id: %[2]s
      timeout: 3s
      commit_period: 50ms
rate_limit_resources:
  - label: pace # so that the test can stop it mid-run
    local: { count: 100, interval: 20ms }
pipeline:
  threads: 1 # Benthos' rate_limit resource races with more (go test -race)
  processors:
    - rate_limit: { resource: pace }
    - mapping: root = content().uppercase()
output:
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topic: B
    key: ${! @kafka_key }
    transaction: { input: src }
`, addr, txnID, scope))
}

// runStream builds the stream of yaml and runs it until stop (or the test's end).
func runStream(t *testing.T, yaml string) *copyStream {
	t.Helper()
	s := buildStream(t, yaml)
	c := &copyStream{stream: s, done: make(chan error, 1)}
	go func() { c.done <- s.Run(context.Background()) }()
	t.Cleanup(func() { _ = s.StopWithin(10 * time.Second) })
	return c
}

func (c *copyStream) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.stream.Stop(ctx); err != nil {
		t.Errorf("stopping stream: %v", err)
	}
	<-c.done
}

// crash stops the stream as a killed process would leave it: the open
// transaction is neither committed nor aborted.
func (c *copyStream) crash(t *testing.T) {
	t.Helper()
	testCrashOnClose.Store(true)
	defer testCrashOnClose.Store(false)
	c.stop(t)
}

// groupProgress is the sum of the group's committed offsets on topic (0
// before the group exists).
func groupProgress(t testing.TB, addr, group, topic string) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return harness.Committed(ctx, kadm.NewClient(cl), group, topic)
}

// waitProgress polls the group's commits until they pass want (deadline:
// a hang guard).
func waitProgress(t *testing.T, addr, group, topic string, want int64) int64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := groupProgress(t, addr, group, topic)
		if got >= want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s committed %d records of %s, want %d", group, got, topic, want)
		}
		time.Sleep(20 * time.Millisecond) // polling another component's state
	}
}

// readTopic reads topic to its end and returns the values; committedOnly
// reads with read_committed once no transaction is open on it.
func readTopic(t *testing.T, addr, topic string, committedOnly bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if committedOnly {
		ends, err = harness.AwaitNoOpenTransaction(ctx, adm, topic, 20*time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Control records (transaction markers) are kept, so the reader knows
	// when it reached each partition's end.
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.KeepControlRecords(),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart())}
	if committedOnly {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	vals, err := harness.ValuesUpTo(ctx, cl, ends)
	if err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return vals
}

// A stream copying A (3 partitions, 20 000 records) to B in transactions,
// killed several times mid-run (the open transaction left to the broker)
// and once taken over by a second instance while running, leaves B with
// every record of A exactly once for a read_committed reader.
func TestTransactionalCopyExactlyOnceAcrossCrashes(t *testing.T) {
	forScopes(t, testTransactionalCopy)
}

func testTransactionalCopy(t *testing.T, scope string) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "A", "B"))
	const n = 20000
	produce(t, addr, "A", 0, n)

	var progress int64
	step := func(d int64) { progress = waitProgress(t, addr, "copy", "A", min(progress+d, n)) }
	crashes := 0
	for round := 0; round < 4 && progress < n; round++ {
		c := startCopy(t, addr, fmt.Sprintf("copy-%d", round%2), scope)
		if round == 1 {
			// Takeover: a second instance joins mid-run (rebalance: open
			// transactions abort) before the first one dies.
			step(1000)
			c2 := startCopy(t, addr, "copy-x", scope)
			step(1000)
			c.crash(t)
			crashes++
			c = c2
		}
		step(2000)
		c.crash(t)
		crashes++
		t.Logf("round %d: crashed with %d records committed", round, progress)
	}
	if crashes < 4 {
		t.Fatalf("only %d crashes before the copy was done: the test did not exercise recovery", crashes)
	}
	c := startCopy(t, addr, "copy-0", scope)
	waitProgress(t, addr, "copy", "A", n)
	c.stop(t)

	got := readTopic(t, addr, "B", true)
	checkCopiedOnce(t, got, n)
	all := readTopic(t, addr, "B", false)
	t.Logf("B: %d committed records, %d records including aborted transactions", len(got), len(all))
}

// checkCopiedOnce checks that got (B's committed values) holds the
// upper-cased value of each of A's n records exactly once.
func checkCopiedOnce(t *testing.T, got []string, n int) {
	t.Helper()
	for _, off := range harness.CountsOff(got, n, func(i int) string { return fmt.Sprintf("V-%d", i) }) {
		t.Errorf("B, read_committed: %s", off)
	}
	if len(got) != n {
		t.Errorf("B holds %d committed records, want %d", len(got), n)
	}
}

// A session whose partitions moved to another member cannot commit: its
// transaction aborts, and what it produced is invisible to read_committed.
func TestTransactionFencedAfterRebalance(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "A", "B"))
	produce(t, addr, "A", 0, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	zombie := newTxnConsumer(t, addr, "z-1")
	chunks := pollUntil(ctx, t, zombie, 1)
	if err := zombie.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, err := zombie.ProduceTxn(ctx, []*kgo.Record{{Topic: "B", Value: []byte("zombie")}}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		ch.Ack()
	}
	// Another member joins: the partitions move while the transaction is open.
	other := newTxnConsumer(t, addr, "z-2")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); pollUntil(ctx, t, other, 1) }()
	waitAssigned(ctx, t, other)
	committed, err := zombie.EndTxn(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if committed {
		t.Fatal("a session whose partitions moved committed its transaction")
	}
	wg.Wait()
	for _, v := range readTopic(t, addr, "B", true) {
		if v == "zombie" {
			t.Fatal("the zombie's record is visible to read_committed")
		}
	}
}

// The epoch of a partition changes when a transaction aborts (the position
// is rewound) and the records come again with the new epoch.
func TestAssignmentEpochChangesOnRewind(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "A"))
	produce(t, addr, "A", 0, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newTxnConsumer(t, addr, "e-1")
	first := pollUntil(ctx, t, c, 10)
	if err := c.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range first {
		ch.Ack()
	}
	if ok, err := c.EndTxn(ctx, false); err != nil || ok {
		t.Fatalf("abort: committed=%v err=%v", ok, err)
	}
	for _, ch := range first {
		if ch.Live() {
			t.Fatal("a chunk fetched before the rewind is still live")
		}
	}
	again := pollUntil(ctx, t, c, 10)
	if again[0].Records[0].Offset != 0 {
		t.Fatalf("after the abort consumption resumed at %d, want 0", again[0].Records[0].Offset)
	}
	if again[0].Epoch == first[0].Epoch {
		t.Fatalf("epoch %d unchanged after the rewind", first[0].Epoch)
	}
}

// A nacked batch aborts the transaction: its records come again, with a new
// kafka_assignment_epoch in their metadata.
func TestAssignmentEpochMetadataChangesOnNack(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "A"))
	produce(t, addr, "A", 0, 4)
	var mu sync.Mutex
	epochs := map[string]map[int]bool{} // partition -> epochs seen
	var nacked atomic.Bool
	stop := runInput(t, fmt.Sprintf(`
label: src
kafka_franz:
  seed_brokers: [ %q ]
  topics: [ A ]
  consumer_group: ep
  transaction: { enabled: true, id: ep-1, commit_period: 20ms }
`, addr), func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b {
			p, _ := m.MetaGet("kafka_partition")
			e, ok := m.MetaGetMut("kafka_assignment_epoch")
			if !ok {
				return fmt.Errorf("no kafka_assignment_epoch")
			}
			if epochs[p] == nil {
				epochs[p] = map[int]bool{}
			}
			epochs[p][e.(int)] = true
		}
		if nacked.CompareAndSwap(false, true) {
			return fmt.Errorf("first batch fails: the transaction aborts")
		}
		return nil
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, es := range epochs {
			n += len(es)
		}
		mu.Unlock()
		if n >= 3 { // both partitions seen, one of them again after the abort
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("epochs seen: %v; want a new epoch after the abort", epochs)
		}
		time.Sleep(10 * time.Millisecond) // polling the stream's progress
	}
	stop()
}

// newTxnConsumer is a transactional consumer of A in group g.
func newTxnConsumer(t *testing.T, addr, id string) *franz.Consumer {
	t.Helper()
	c := franz.NewConsumer(franz.ConsumerConfig{
		Client: franz.ClientConfig{SeedBrokers: []string{addr}},
		Topics: franz.TopicSpec{Topics: []string{"A"}}, Group: "g",
		Txn: &franz.TxnConfig{ID: id, Timeout: 10 * time.Second},
	}, testLogger{t}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// pollUntil polls until at least n records came.
func pollUntil(ctx context.Context, t *testing.T, c *franz.Consumer, n int) []franz.Chunk {
	var out []franz.Chunk
	got := 0
	for got < n {
		chunks, err := c.Poll(ctx)
		if err != nil {
			t.Errorf("poll: %v", err)
			return out
		}
		for _, ch := range chunks {
			got += len(ch.Records)
		}
		out = append(out, chunks...)
	}
	return out
}

// waitAssigned waits until c owns a partition.
func waitAssigned(ctx context.Context, t *testing.T, c *franz.Consumer) {
	for c.Assigned() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no partition assigned")
		}
		time.Sleep(10 * time.Millisecond) // polling the group's state
	}
}

type testLogger struct{ t *testing.T }

func (l testLogger) Debugf(f string, a ...any) {}
func (l testLogger) Infof(f string, a ...any)  {}
func (l testLogger) Warnf(f string, a ...any)  { l.t.Logf("WARN "+f, a...) }
func (l testLogger) Errorf(f string, a ...any) { l.t.Logf("ERROR "+f, a...) }

// Construction refuses what lint refuses, naming the field.
func TestTransactionConstructionRefusesBadConfig(t *testing.T) {
	parsed, err := inputSpec().ParseYAML("seed_brokers: [ x ]\ntopics: [ rides ]\nconsumer_group: g\ntransaction: { enabled: true, commit_period: 1m }\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := consumerConfigFromParsed(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := txnFromParsed(parsed, cc); err == nil || !strings.Contains(err.Error(), "transaction.commit_period") {
		t.Errorf("commit_period = timeout accepted: %v", err)
	}
	// An output naming an input that is not in the config says so on
	// connecting, and stops the job: the input is built before the outputs,
	// so it never comes (it retried forever).
	parsedOut, err := outputSpec().ParseYAML("seed_brokers: [ x ]\ntopic: B\ntransaction: { input: nowhere }\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := writerFromParsed(parsedOut, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	clicmd.OnAbort(func() { stopped = true })
	err = w.Connect(context.Background())
	clicmd.OnAbort(nil)
	if err == nil || !strings.Contains(err.Error(), `transaction.input: no kafka_franz input labelled "nowhere"`) || !stopped {
		t.Errorf("connect without the input: %v, job stopped %v", err, stopped)
	}
	// The default transactional id is derived from the group and instance.
	parsed, err = inputSpec().ParseYAML("seed_brokers: [ x ]\ntopics: [ rides ]\nconsumer_group: g\ninstance_id: r-0\ntransaction: { enabled: true }\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cc, err = consumerConfigFromParsed(parsed); err != nil {
		t.Fatal(err)
	}
	if txn, _, err := txnFromParsed(parsed, cc); err != nil || txn.ID != "g-r-0" {
		t.Errorf("default transactional id: %+v, %v", txn, err)
	}
}

// The epoch of a partition changes when it is assigned again after moving
// to another member, without transactions too.
func TestAssignmentEpochChangesOnReassignment(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "A"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conf := franz.ConsumerConfig{
		Client: franz.ClientConfig{SeedBrokers: []string{addr}},
		Topics: franz.TopicSpec{Topics: []string{"A"}}, Group: "r",
		CommitPeriod: time.Second,
	}
	first := franz.NewConsumer(conf, testLogger{t}, nil)
	if err := first.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	produce(t, addr, "A", 0, 2)
	before := map[int32]int64{}
	for _, ch := range pollUntil(ctx, t, first, 2) {
		before[ch.Partition] = ch.Epoch
		ch.Ack()
	}
	// A second member takes a partition, then leaves: it comes back.
	second := franz.NewConsumer(conf, testLogger{t}, nil)
	if err := second.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	polled := make(chan struct{})
	go func() { defer close(polled); _, _ = second.Poll(ctx) }()
	for first.Assigned() != 1 {
		pollBriefly(ctx, first) // lets the rebalance run
	}
	second.Close()
	<-polled
	for first.Assigned() != 2 {
		pollBriefly(ctx, first)
	}
	produce(t, addr, "A", 2, 2)
	changed := 0
	for _, ch := range pollUntil(ctx, t, first, 2) {
		if ch.Epoch != before[ch.Partition] {
			changed++
		}
	}
	if changed == 0 {
		t.Fatalf("no partition got a new epoch after moving and coming back (before: %v)", before)
	}
}

// pollBriefly polls once for at most 50ms (a bound, not a wait for time to
// pass: the loop around it polls the group's state).
func pollBriefly(ctx context.Context, c *franz.Consumer) {
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _ = c.Poll(ctx)
}

// Two outputs produce in one input's transactions (fan_out): one with
// `partitioner: manual` (the stage-1 markers: one copy per partition), one
// hashing keys like Kafka's default partitioner (the partials), and one
// manual output whose empty partition hashes the key (both in one output,
// as config/rides-scaleout.yaml does to keep their order).
func TestTransactionalOutputsPartitioners(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "A"), kfake.SeedTopics(3, "M", "K", "E"))
	const n = 30
	produce(t, addr, "A", 0, n)
	s := buildStream(t, fmt.Sprintf(`
input:
  label: src
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topics: [ A ]
    consumer_group: parts
    transaction: { enabled: true, id: parts-1, commit_period: 20ms }
pipeline:
  processors:
    - mapping: meta window_marker_partition = (metadata("kafka_offset") %% 3).string()
output:
  broker:
    pattern: fan_out
    outputs:
      - kafka_franz:
          seed_brokers: [ %[1]q ]
          topic: M
          partitioner: manual
          partition: ${! @window_marker_partition }
          transaction: { input: src }
      - kafka_franz:
          seed_brokers: [ %[1]q ]
          topic: K
          key: ${! @kafka_key }
          transaction: { input: src }
      - kafka_franz:
          seed_brokers: [ %[1]q ]
          topic: E
          key: ${! @kafka_key }
          partitioner: manual
          partition: '${! if @kafka_offset %% 2 == 0 { "" } else { @window_marker_partition } }'
          transaction: { input: src }
`, addr))
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	waitProgress(t, addr, "parts", "A", n)
	if err := s.StopWithin(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-done

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hash := kgo.StickyKeyPartitioner(nil).ForTopic("K")
	for _, topic := range []string{"M", "K", "E"} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
			kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for got < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s: read %d records of %d", topic, got, n)
			}
			fs.EachRecord(func(r *kgo.Record) {
				got++
				var i int
				if _, err := fmt.Sscanf(string(r.Value), "v-%d", &i); err != nil {
					t.Fatalf("%s: value %q", topic, r.Value)
				}
				want := int32(i % 3) // A has one partition: offset = index
				if topic == "K" || (topic == "E" && i%2 == 0) {
					want = int32(hash.Partition(&kgo.Record{Key: r.Key}, 3))
				}
				if r.Partition != want {
					t.Errorf("%s: %s in partition %d, want %d", topic, r.Value, r.Partition, want)
				}
			})
		}
		cl.Close()
	}
}
