package kafkafranz

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Batches never mix partitions, keep offset order, respect the count, and
// the period flushes the remainder.
func TestInputBatchingPerPartition(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 95)
	var mu sync.Mutex
	var batches []service.MessageBatch
	col := newCollector()
	runInput(t, groupInput(addr, "g", "  batching:\n    count: 10\n    period: 50ms\n"), func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		batches = append(batches, b)
		mu.Unlock()
		col.add(b)
		return nil
	})
	col.waitDistinct(t, 95)
	mu.Lock()
	defer mu.Unlock()
	full := 0
	for _, b := range batches {
		if len(b) > 10 {
			t.Fatalf("batch of %d > count 10", len(b))
		}
		if len(b) == 10 {
			full++
		}
		p0 := metaInt(b[0], "kafka_partition")
		for i, m := range b {
			if metaInt(m, "kafka_partition") != p0 {
				t.Fatal("a batch mixes partitions")
			}
			if i > 0 && metaInt(m, "kafka_offset") != metaInt(b[i-1], "kafka_offset")+1 {
				t.Fatal("offsets within a batch are not consecutive")
			}
		}
	}
	if full < 9 { // 32+32+31 records: at least 3 full batches per partition
		t.Fatalf("only %d full batches of 10", full)
	}
}

// Poll scope: batches respect the count and span the partitions, each full
// batch holding a slice of every partition of the backlog; records of each
// partition arrive in offset order, none missing or repeated.
func TestInputBatchingPollScope(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 95)
	var mu sync.Mutex
	var batches []service.MessageBatch
	col := newCollector()
	runInput(t, groupInput(addr, "g", scoped(scopePoll)+"  batching:\n    count: 10\n    period: 50ms\n"), func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		batches = append(batches, b)
		mu.Unlock()
		col.add(b)
		return nil
	})
	col.waitDistinct(t, 95)
	mu.Lock()
	defer mu.Unlock()
	next := map[int]int{} // partition -> next expected offset
	full := 0
	for _, b := range batches {
		if len(b) > 10 {
			t.Fatalf("batch of %d > count 10", len(b))
		}
		parts := map[int]int{}
		for _, m := range b {
			p, o := metaInt(m, "kafka_partition"), metaInt(m, "kafka_offset")
			if o != next[p] {
				t.Fatalf("partition %d: offset %d delivered when %d was next", p, o, next[p])
			}
			next[p]++
			parts[p]++
		}
		if len(b) == 10 {
			full++
			if len(parts) != 3 {
				t.Errorf("a full batch holds partitions %v, want a slice of all 3", parts)
			}
		}
	}
	if full < 9 {
		t.Fatalf("only %d full batches of 10 out of 95 records", full)
	}
}

// Explicit partitions with a start offset, without a group.
func TestInputExplicitPartitions(t *testing.T) { forScopes(t, testInputExplicitPartitions) }

func testInputExplicitPartitions(t *testing.T, scope string) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 30) // round robin: 10 per partition
	col := newCollector()
	stop := runInput(t, fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topics: [ "rides:1:5", "rides:2" ]
%s`, addr, scoped(scope)), func(_ context.Context, b service.MessageBatch) error { col.add(b); return nil })
	col.waitDistinct(t, 15)
	produce(t, addr, "rides", 30, 3) // one more per partition: a barrier
	col.waitDistinct(t, 17)
	stop()
	col.mu.Lock()
	defer col.mu.Unlock()
	for k := range col.seen {
		var p, o int
		fmt.Sscanf(k, "rides/%d/%d", &p, &o)
		if p == 0 || (p == 1 && o < 5) {
			t.Errorf("consumed %s outside rides:1 from offset 5 and rides:2", k)
		}
	}
}

// regexp_topics_include/exclude select topics by pattern.
func TestInputRegexpTopics(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides-a", "rides-b", "other"))
	for _, topic := range []string{"rides-a", "rides-b", "other"} {
		produce(t, addr, topic, 0, 5)
	}
	col := newCollector()
	runInput(t, fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  regexp_topics_include: [ "rides-.*" ]
  regexp_topics_exclude: [ "rides-b" ]
  consumer_group: g
`, addr), func(_ context.Context, b service.MessageBatch) error { col.add(b); return nil })
	col.waitDistinct(t, 5)
	produce(t, addr, "rides-a", 5, 1) // barrier: after it, anything else would have shown
	col.waitDistinct(t, 6)
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, m := range col.msgs {
		if topic, _ := m.MetaGet("kafka_topic"); topic != "rides-a" {
			t.Errorf("consumed from %s", topic)
		}
	}
}

// Tombstones and headers come through as metadata.
func TestInputTombstoneAndHeaders(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	err = cl.ProduceSync(context.Background(),
		&kgo.Record{Topic: "rides", Key: []byte("k1"), Value: nil, Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}},
		&kgo.Record{Topic: "rides", Key: []byte("k2"), Value: []byte("x")},
	).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	runInput(t, groupInput(addr, "g", ""), func(_ context.Context, b service.MessageBatch) error { col.add(b); return nil })
	col.waitDistinct(t, 2)
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, m := range col.msgs {
		key, _ := m.MetaGet("kafka_key")
		tomb, _ := m.MetaGetMut("kafka_tombstone_message")
		if (key == "k1") != (tomb == true) {
			t.Errorf("%s: tombstone=%v", key, tomb)
		}
		if tr, _ := m.MetaGet("trace"); (key == "k1") != (tr == "abc") {
			t.Errorf("%s: header trace=%q", key, tr)
		}
	}
}

// partitioner: manual puts each record where `partition` says; a message
// whose topic interpolates to nothing fails alone.
func TestOutputManualPartitionAndPerMessageErrors(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(4, "rides"))
	send, _ := runOutput(t, "none", fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topic: ${! meta("topic") }
  partitioner: manual
  partition: ${! meta("p") }
`, addr))

	var good service.MessageBatch
	for i := range 8 {
		m := service.NewMessage(fmt.Appendf(nil, "m%d", i))
		m.MetaSetMut("topic", "rides")
		m.MetaSetMut("p", fmt.Sprint(i%4))
		good = append(good, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := send(ctx, good); err != nil {
		t.Fatal(err)
	}
	bad := service.NewMessage([]byte("no topic"))
	bad.MetaSetMut("p", "0")
	shortCtx, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if err := send(shortCtx, service.MessageBatch{bad}); err == nil {
		t.Fatal("a message with an empty topic was accepted")
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("rides"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < 8 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 8", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var i int
			fmt.Sscanf(string(r.Value), "m%d", &i)
			if r.Partition != int32(i%4) {
				t.Errorf("%s landed in partition %d, want %d", r.Value, r.Partition, i%4)
			}
			got++
		})
	}
}

// A batch count above checkpoint_limit (and no period) must not stall: the
// partition's partial batch is flushed when the partition is paused.
func TestInputBatchLargerThanCheckpointLimit(t *testing.T) {
	forScopes(t, testInputBatchLargerThanCheckpointLimit)
}

func testInputBatchLargerThanCheckpointLimit(t *testing.T, scope string) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 45)
	col := newCollector()
	runInput(t, groupInput(addr, "g", scoped(scope)+"  checkpoint_limit: 10\n  batching:\n    count: 100\n"), func(_ context.Context, b service.MessageBatch) error {
		col.add(b)
		return nil
	})
	col.waitDistinct(t, 45)
}
