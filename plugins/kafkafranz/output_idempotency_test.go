package kafkafranz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A restarted output re-sent the messages of source offsets 0..9 after the
// group committed 4: the ones already in the topic are not written again,
// and every record carries its source coordinates.
func TestOutputIdempotencySkipsRecordsAlreadyWritten(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "dlq"), kfake.SeedTopics(1, "src"))
	conf := fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topic: dlq
  idempotency:
    consumer_group: g
`, addr)
	batch := func(from, to int) service.MessageBatch {
		var b service.MessageBatch
		for o := from; o < to; o++ {
			m := service.NewMessage(fmt.Appendf(nil, "v-%d", o))
			m.MetaSetMut("kafka_topic", "src")
			m.MetaSetMut("kafka_partition", "0")
			m.MetaSetMut("kafka_offset", fmt.Sprint(o))
			b = append(b, m)
		}
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// First process: writes offsets 0..6, then "crashes" with the group at 4.
	send, stop := runOutput(t, "WARN", conf)
	if err := send(ctx, batch(0, 7)); err != nil {
		t.Fatal(err)
	}
	_ = stop(ctx)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "src", Partition: 0, At: 4})
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "g", os); err != nil {
		t.Fatal(err)
	}
	// The restarted process gets 4..9 again.
	send, stop = runOutput(t, "WARN", conf)
	if err := send(ctx, batch(4, 10)); err != nil {
		t.Fatal(err)
	}
	_ = stop(ctx)

	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := map[string]int{}
	for n := 0; n < 10; {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 10 records: %v", n, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			for _, h := range r.Headers {
				if h.Key == "source_offset" {
					got[string(h.Value)]++
				}
			}
		})
	}
	for o := 0; o < 10; o++ {
		if k := fmt.Sprintf("src/0/%d", o); got[k] != 1 {
			t.Errorf("%s written %d times, want once", k, got[k])
		}
	}
	if len(got) != 10 {
		t.Errorf("records carry %d distinct source keys, want 10: %v", len(got), got)
	}
}
