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

// idempotentOutput is a kafka_franz output to topic dlq with idempotency on
// for group.
func idempotentOutput(addr, group string) string {
	return fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topic: dlq
  idempotency:
    consumer_group: %s
`, addr, group)
}

// sourceBatch is the messages of source offsets from..to-1 of src/0.
func sourceBatch(from, to int) service.MessageBatch {
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

// writtenKeys reads the n records of dlq and counts them by their group and
// source key headers ("group src/0/o").
func writtenKeys(ctx context.Context, t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := map[string]int{}
	for read := 0; read < n; {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records: %v", read, n, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			var group, key string
			for _, h := range r.Headers {
				switch h.Key {
				case "source_offset":
					key = string(h.Value)
				case "source_group":
					group = string(h.Value)
				}
			}
			got[group+" "+key]++
		})
	}
	return got
}

// A restarted output re-sent the messages of source offsets 0..9 after the
// group committed 4: the ones already in the topic are not written again,
// and every record carries its source coordinates and its group.
func TestOutputIdempotencySkipsRecordsAlreadyWritten(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "dlq"), kfake.SeedTopics(1, "src"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// First process: writes offsets 0..6, then "crashes" with the group at 4.
	send, stop := runOutput(t, "WARN", idempotentOutput(addr, "g"))
	if err := send(ctx, sourceBatch(0, 7)); err != nil {
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
	send, stop = runOutput(t, "WARN", idempotentOutput(addr, "g"))
	if err := send(ctx, sourceBatch(4, 10)); err != nil {
		t.Fatal(err)
	}
	_ = stop(ctx)

	got := writtenKeys(ctx, t, addr, 10)
	for o := 0; o < 10; o++ {
		if k := fmt.Sprintf("g src/0/%d", o); got[k] != 1 {
			t.Errorf("%s written %d times, want once", k, got[k])
		}
	}
	if len(got) != 10 {
		t.Errorf("records carry %d distinct group and source keys, want 10: %v", len(got), got)
	}
}

// Two jobs (two consumer groups) read the same source and write their dead
// letters to one topic: each writes its own, once. Before the group header,
// the second job found the first one's keys and wrote none of its dead
// letters: they were lost.
func TestOutputIdempotencyIsPerGroup(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "dlq"), kfake.SeedTopics(1, "src"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, group := range []string{"job-a", "job-b"} {
		send, stop := runOutput(t, "WARN", idempotentOutput(addr, group))
		if err := send(ctx, sourceBatch(0, 5)); err != nil {
			t.Fatal(err)
		}
		_ = stop(ctx)
	}
	got := writtenKeys(ctx, t, addr, 10)
	for _, group := range []string{"job-a", "job-b"} {
		for o := 0; o < 5; o++ {
			if k := fmt.Sprintf("%s src/0/%d", group, o); got[k] != 1 {
				t.Errorf("%s written %d times, want once", k, got[k])
			}
		}
	}
}

// A message without source coordinates (a window emission the table refused,
// a key interpolated from missing metadata) is written once it comes, without
// the idempotency headers, instead of failing on every retry: that stopped the
// dead-letter output, and with it its input partition, for good.
func TestOutputIdempotencyWritesAMessageWithoutSourceCoordinates(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "dlq"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send, stop := runOutput(t, "ERROR", idempotentOutput(addr, "g"))
	b := sourceBatch(0, 1)
	b = append(b, service.NewMessage([]byte("an emission")))
	if err := send(ctx, b); err != nil {
		t.Fatalf("the batch failed: %v", err)
	}
	_ = stop(ctx)
	got := writtenKeys(ctx, t, addr, 2)
	if got["g src/0/0"] != 1 || got[" "] != 1 {
		t.Fatalf("written %v, want the record with its keys and the other without", got)
	}
}
