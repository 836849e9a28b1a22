package kafkafranz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Our output writes, our input reads back every record with Redpanda
// Connect's metadata, and the group's commit reaches the log end on a
// graceful stop.
func TestOutputThenInputRoundTrip(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	const n = 60

	// Produce through the kafka_franz output.
	send, stopOutput := runOutput(t, "warn", fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topic: rides
  key: ${! json("id") }
  metadata:
    include_prefixes: [ "x_" ]
`, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		m := service.NewMessage(fmt.Appendf(nil, `{"id":"r%d"}`, i))
		m.MetaSetMut("x_source", "sim")
		m.MetaSetMut("internal", "not-sent")
		if err := send(ctx, service.MessageBatch{m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stopOutput(ctx); err != nil {
		t.Fatal(err)
	}

	// Read the log independently to know where each record landed.
	want := map[string]*kgo.Record{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("rides"), kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	for len(want) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { want[string(r.Key)] = r })
	}
	cl.Close()

	col := newCollector()
	stop := runInput(t, fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topics: [ rides ]
  consumer_group: g1
  commit_period: 100ms
`, addr), func(_ context.Context, b service.MessageBatch) error { col.add(b); return nil })
	col.waitDistinct(t, n)
	stop()

	if len(col.msgs) != n {
		t.Errorf("got %d messages, want %d", len(col.msgs), n)
	}
	for _, m := range col.msgs {
		key, _ := m.MetaGetMut("kafka_key")
		r := want[key.(string)]
		if r == nil {
			t.Fatalf("unexpected key %v", key)
		}
		b, _ := m.AsBytes()
		if string(b) != string(r.Value) {
			t.Errorf("value %s, want %s", b, r.Value)
		}
		checks := map[string]any{
			"kafka_topic":             "rides",
			"kafka_partition":         int(r.Partition),
			"kafka_offset":            int(r.Offset),
			"kafka_timestamp_ms":      r.Timestamp.UnixMilli(),
			"kafka_timestamp_unix":    r.Timestamp.Unix(),
			"kafka_tombstone_message": false,
			"x_source":                "sim",
		}
		for k, v := range checks {
			if got, _ := m.MetaGetMut(k); got != v {
				t.Errorf("%s: metadata %s = %#v, want %#v", key, k, got, v)
			}
		}
		if _, ok := m.MetaGet("internal"); ok {
			t.Errorf("metadata outside the include filter was sent as a header")
		}
	}

	// Graceful stop commits everything that was acked: the log end of each partition.
	ends := map[int32]int64{}
	for _, r := range want {
		ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
	}
	got := committed(t, addr, "g1", "rides")
	for p, end := range ends {
		if got[p] != end {
			t.Errorf("partition %d committed %d, want %d", p, got[p], end)
		}
	}
}
