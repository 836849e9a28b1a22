package kafkafranz

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceTxn writes keys prefix-0..n-1 in one transaction, committed or aborted.
func produceTxn(t *testing.T, cl *kgo.Client, prefix string, n int, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rec := &kgo.Record{Topic: "rides", Key: fmt.Appendf(nil, "%s-%d", prefix, i), Value: []byte("v")}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// transaction_isolation_level: read_committed skips an aborted transaction
// between two committed ones; read_uncommitted delivers all three.
func TestInputTransactionIsolationLevel(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("rides-txn"))
	if err != nil {
		t.Fatal(err)
	}
	produceTxn(t, cl, "first", 5, true)
	produceTxn(t, cl, "aborted", 5, false)
	produceTxn(t, cl, "second", 5, true)
	cl.Close()

	keys := func(c *collector) (all []string, aborted int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range c.msgs {
			k, _ := m.MetaGet("kafka_key")
			all = append(all, k)
			if strings.HasPrefix(k, "aborted-") {
				aborted++
			}
		}
		return all, aborted
	}

	committed := newCollector()
	runInput(t, groupInput(addr, "committed", "  transaction_isolation_level: read_committed\n"),
		func(_ context.Context, b service.MessageBatch) error { committed.add(b); return nil })
	committed.waitDistinct(t, 10) // second-* come after the aborted records in the log
	if all, aborted := keys(committed); aborted != 0 || !containsKey(all, "second-4") {
		t.Errorf("read_committed delivered %d records of the aborted transaction (keys %v)", aborted, all)
	}

	uncommitted := newCollector()
	runInput(t, groupInput(addr, "uncommitted", ""),
		func(_ context.Context, b service.MessageBatch) error { uncommitted.add(b); return nil })
	uncommitted.waitDistinct(t, 15)
	if _, aborted := keys(uncommitted); aborted != 5 {
		t.Errorf("read_uncommitted (the default) delivered %d of the 5 aborted records", aborted)
	}
}

func containsKey(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// multi_header keeps every value of a repeated header as a list; without it
// the header is a string. kafka_lag is set in a consumer group (records after
// this one in the partition when fetched) and not for explicit partitions.
func TestInputMultiHeaderAndLag(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "rides", Value: []byte("v"), Headers: []kgo.RecordHeader{
			{Key: "hop", Value: []byte("a")}, {Key: "hop", Value: []byte(fmt.Sprint(i))},
		}}
	}
	err = cl.ProduceSync(context.Background(), recs...).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}

	multi := newCollector()
	runInput(t, groupInput(addr, "multi", "  multi_header: true\n"),
		func(_ context.Context, b service.MessageBatch) error { multi.add(b); return nil })
	multi.waitDistinct(t, n)
	multi.mu.Lock()
	for _, m := range multi.msgs {
		off := metaInt(m, "kafka_offset")
		hop, _ := m.MetaGetMut("hop")
		if got, want := fmt.Sprint(hop), fmt.Sprint([]any{"a", fmt.Sprint(off)}); got != want {
			t.Errorf("offset %d: multi_header hop = %s, want %s", off, got, want)
		}
		lag, ok := m.MetaGetMut("kafka_lag")
		if !ok || lag != int64(n-1-off) {
			t.Errorf("offset %d: kafka_lag = %v (%T), want %d (records produced before consuming started)", off, lag, lag, n-1-off)
		}
	}
	multi.mu.Unlock()

	single := newCollector()
	runInput(t, fmt.Sprintf("kafka_franz:\n  seed_brokers: [ %q ]\n  topics: [ \"rides:0\" ]\n", addr),
		func(_ context.Context, b service.MessageBatch) error { single.add(b); return nil })
	single.waitDistinct(t, n)
	single.mu.Lock()
	defer single.mu.Unlock()
	for _, m := range single.msgs {
		off := metaInt(m, "kafka_offset")
		if hop, _ := m.MetaGetMut("hop"); hop != fmt.Sprint(off) {
			t.Errorf("offset %d: hop = %v, want the last value %q as a string", off, hop, fmt.Sprint(off))
		}
		if lag, ok := m.MetaGetMut("kafka_lag"); ok {
			t.Errorf("offset %d: kafka_lag = %v without a consumer group", off, lag)
		}
	}
}

// The Redpanda Connect fields added for portability are accepted with their
// defaults and refused, naming the field, when out of range.
func TestConnectFieldsValidation(t *testing.T) {
	if err := constructInput(`seed_brokers: [ localhost:9092 ]
topics: [ rides ]
consumer_group: g
fetch_min_bytes: 64KiB
transaction_isolation_level: read_committed
multi_header: true
request_timeout_overhead: 30s
conn_idle_timeout: 1m
`); err != nil {
		t.Fatalf("valid input config refused: %v", err)
	}
	for body, want := range map[string]string{
		"fetch_min_bytes: lots":                           "fetch_min_bytes",
		"fetch_min_bytes: 2MiB\nfetch_max_bytes: 1MiB":    "fetch_min_bytes",
		"request_timeout_overhead: 10ms":                  "request_timeout_overhead",
		"conn_idle_timeout: 1h":                           "conn_idle_timeout",
		"sasl:\n  - mechanism: AWS_MSK_IAM":               "AWS_MSK_IAM is not supported",
		"transaction_isolation_level: serializable":       "transaction_isolation_level",
		"tls:\n  enabled: true\n  root_cas: not-pem-text": "root_cas",
	} {
		err := constructInput("seed_brokers: [ localhost:9092 ]\ntopics: [ rides ]\nconsumer_group: g\n" + body + "\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v does not name %s", body, err, want)
		}
	}

	constructOutput := func(body string) error {
		parsed, err := outputSpec().ParseYAML("seed_brokers: [ localhost:9092 ]\ntopic: rides\n"+body, nil)
		if err != nil {
			return err
		}
		_, err = writerFromParsed(parsed, service.MockResources())
		return err
	}
	if err := constructOutput("rack_id: eu-west-1a\nbroker_write_max_bytes: 128MiB\n"); err != nil {
		t.Fatalf("valid output config refused: %v", err)
	}
	for body, want := range map[string]string{
		"broker_write_max_bytes: 2GiB":                          "broker_write_max_bytes",
		"broker_write_max_bytes: 1MiB\nmax_message_bytes: 4MiB": "broker_write_max_bytes",
	} {
		if err := constructOutput(body + "\n"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v does not name %s", body, err, want)
		}
	}
}

// In a consumer group every message carries its topic's partition count, also
// for partitions that never delivered a record, so tumbling_window can wait
// for them; and kafka_prev_offset chains each partition's records (-1 first).
func TestInputTopicPartitionsAndPrevOffsetMetadata(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := 0; i < 7; i++ {
		recs = append(recs, &kgo.Record{Topic: "rides", Partition: int32(i % 2), Value: []byte("v")})
	}
	err = cl.ProduceSync(context.Background(), recs...).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := newCollector()
	runInput(t, groupInput(addr, "parts", "  batching: { count: 2, period: 50ms }\n"), func(_ context.Context, b service.MessageBatch) error { got.add(b); return nil })
	got.waitDistinct(t, len(recs))
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, m := range got.msgs {
		if n, ok := m.MetaGetMut("kafka_topic_partitions"); !ok || n != 3 {
			t.Errorf("kafka_topic_partitions = %v (%T), want 3", n, n)
		}
		off := metaInt(m, "kafka_offset")
		if prev := metaInt(m, "kafka_prev_offset"); prev != off-1 {
			t.Errorf("partition %d offset %d: kafka_prev_offset = %d, want %d", metaInt(m, "kafka_partition"), off, prev, off-1)
		}
	}
}
