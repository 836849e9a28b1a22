package kafkafranz

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure" // tracer, metrics, logger defaults
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
)

// newCluster starts an in-process Kafka (kfake, bound to 127.0.0.1 on a free
// port) and stops it when the test ends.
func newCluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// produce writes n records with a bare franz-go client, key k-<i>, value v-<i>.
func produce(t testing.TB, addr, topic string, from, n int, opts ...kgo.Opt) {
	t.Helper()
	recs := make([]*kgo.Record, 0, n)
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, "v-%d", i)})
	}
	produceRecords(t, addr, recs, opts...)
}

// produceRecords writes recs with a bare franz-go client (round-robin
// partitioner unless opts say otherwise).
func produceRecords(t testing.TB, addr string, recs []*kgo.Record, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.RoundRobinPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// committed returns the group's committed offsets per partition of topic.
func committed(t testing.TB, addr, group, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// collector gathers consumed messages; tests choose when to ack.
type collector struct {
	mu   sync.Mutex
	msgs []*service.Message
	seen map[string]int // "topic/partition/offset" -> deliveries
	cond chan struct{}
}

func newCollector() *collector {
	return &collector{seen: map[string]int{}, cond: make(chan struct{}, 1)}
}

func (c *collector) add(b service.MessageBatch) {
	c.mu.Lock()
	for _, m := range b {
		c.msgs = append(c.msgs, m)
		t, _ := m.MetaGet("kafka_topic")
		p, _ := m.MetaGet("kafka_partition")
		o, _ := m.MetaGet("kafka_offset")
		if r, ok := kafkarecord.Of(m); ok { // set_metadata: false
			topic, part, off := r.Position()
			t, p, o = topic, strconv.Itoa(int(part)), strconv.FormatInt(off, 10)
		}
		c.seen[t+"/"+p+"/"+o]++
	}
	c.mu.Unlock()
	select {
	case c.cond <- struct{}{}:
	default:
	}
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// deliveries is how often the record "topic/partition/offset" was seen (the
// stream may still be adding: read under the lock).
func (c *collector) deliveries(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[key]
}

// waitDistinct blocks until n distinct records were seen (deadline: a hang
// guard for a broken implementation, not a wait for time to pass).
func (c *collector) waitDistinct(t testing.TB, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for c.distinct() < n {
		select {
		case <-c.cond:
		case <-deadline:
			t.Fatalf("saw %d distinct records, want %d", c.distinct(), n)
		}
	}
}

// buildStream builds a whole-config stream (warn logs), not started.
func buildStream(t testing.TB, yaml string) *service.Stream {
	t.Helper()
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: warn"); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetYAML(yaml); err != nil {
		t.Fatal(err)
	}
	s, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runInput runs a stream with the given kafka_franz input YAML feeding fn.
// The returned stop function stops the stream gracefully.
func runInput(t testing.TB, inputYAML string, fn service.MessageBatchHandlerFunc) (stop func()) {
	t.Helper()
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: warn"); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddInputYAML(inputYAML); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddBatchConsumerFunc(fn); err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stream.Run(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := stream.Stop(ctx); err != nil {
				t.Errorf("stopping stream: %v", err)
			}
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// runOutput runs a stream with the given kafka_franz output YAML fed by the
// returned send function; the stream is stopped when the test ends, and
// earlier by calling stop (which waits for pending writes).
func runOutput(t testing.TB, logLevel, outputYAML string) (send service.MessageBatchHandlerFunc, stop func(context.Context) error) {
	t.Helper()
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: " + logLevel); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddOutputYAML(outputYAML); err != nil {
		t.Fatal(err)
	}
	send, err := sb.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = out.Run(context.Background()) }()
	t.Cleanup(func() { _ = out.StopWithin(10 * time.Second) })
	return send, out.Stop
}

// forScopes runs a delivery test in both batch scopes: every guarantee of
// the input must hold whatever a batch spans.
func forScopes(t *testing.T, test func(t *testing.T, scope string)) {
	for _, scope := range []string{scopePartition, scopePoll} {
		t.Run(scope, func(t *testing.T) { test(t, scope) })
	}
}

// scoped is the input YAML line that selects a batch scope.
func scoped(scope string) string { return "  batch_scope: " + scope + "\n" }
