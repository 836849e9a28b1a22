package kafkafranz

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
)

// newAheadTestReader is the non-transactional input's reader (replayReader)
// on topic rides of addr, poll scope, batches of count records.
func newAheadTestReader(t *testing.T, addr string, count int) *replayReader {
	t.Helper()
	conf, err := inputSpec().ParseYAML(fmt.Sprintf(`
seed_brokers: [ %s ]
topics: [ rides ]
consumer_group: ahead
start_offset: earliest
batch_scope: poll
batching: { count: %d }
metadata_keys: [ kafka_topic, kafka_partition, kafka_offset, kafka_prev_offset ]
`, addr, count), nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := consumerConfigFromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := conf.FieldBatchPolicy(fieldBatching)
	if err != nil {
		t.Fatal(err)
	}
	omit, err := metaKeysOmitted([]string{"kafka_topic", "kafka_partition", "kafka_offset", "kafka_prev_offset"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := newReader(cc, policy, metaOptions{omit: omit}, scopePoll, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	p := newReplayReader(r)
	if err := p.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// While the pipeline works on a batch, the next one is already built: the
// reader does not wait for the next ReadBatch to poll and build it.
func TestInputBuildsTheNextBatchWhileOneIsOut(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 300)
	p := newAheadTestReader(t, addr, 50)
	ctx := context.Background()
	if _, _, err := p.ReadBatch(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.ahead.items) < aheadBatches {
		if time.Now().After(deadline) {
			t.Fatalf("no batch built ahead within 10s of handing one out (%d queued)", len(p.ahead.items))
		}
		time.Sleep(5 * time.Millisecond) // polling the reader goroutine's progress
	}
}

// Read-ahead changes when batches are built, never what they hold: every
// partition's records arrive once, in offset order, each chained to the one
// before it (kafka_prev_offset), and a nacked batch comes back before any
// batch built ahead of it.
func TestInputReadAheadKeepsOffsetOrderAndReplaysFirst(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 600)
	p := newAheadTestReader(t, addr, 40)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last := map[int]int{} // partition -> last offset delivered
	seen, batches := 0, 0
	for seen < 600 {
		batch, ack, err := p.ReadBatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		batches++
		if batches == 3 {
			// Let the reader queue a batch ahead, then nack: the replay
			// must come first, with the same records.
			for len(p.ahead.items) < aheadBatches && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			_ = ack(ctx, fmt.Errorf("nacked"))
			again, ack2, err := p.ReadBatch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != len(batch) || recordID(again[0]) != recordID(batch[0]) {
				t.Fatalf("after a nack got %d records from %s, want the nacked %d from %s", len(again), recordID(again[0]), len(batch), recordID(batch[0]))
			}
			batch, ack = again, ack2
		}
		for _, m := range batch {
			part, off, prev := metaInt(m, "kafka_partition"), metaInt(m, "kafka_offset"), metaInt(m, "kafka_prev_offset")
			want, ok := last[part]
			if !ok {
				want = -1
			}
			if prev != want || off <= want {
				t.Fatalf("partition %d: offset %d (prev %d) after %d", part, off, prev, want)
			}
			last[part] = off
			seen++
		}
		_ = ack(ctx, nil)
	}
	if seen != 600 {
		t.Fatalf("%d records, want 600", seen)
	}
}

// A batch the read-ahead queued before its partitions were revoked is
// filtered when ReadBatch takes it: the new owner reads those records from
// the last commit, so duplicates stay bounded by what was in flight
// downstream at the revoke, and every record is delivered and committed.
func TestReadAheadDropsQueuedRecordsOfRevokedPartitions(t *testing.T) {
	const partitions, perPartition = 6, 300
	const total = partitions * perPartition
	_, addr := newCluster(t, kfake.SeedTopics(partitions, "rides"))
	produce(t, addr, "rides", 0, total)
	d := newDeliveries()
	a := newReplayReader(testReader(t, addr, "{count: 7}", scopePoll, 50))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var held []service.AckFunc
	var heldParts []string // the partition of each record in flight at the revoke
	for range 3 {
		b, ack, err := a.ReadBatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.add(0, b)
		for _, m := range b {
			p, _ := m.MetaGet("kafka_partition")
			heldParts = append(heldParts, p)
		}
		held = append(held, ack)
	}
	for len(a.ahead.items) < aheadBatches {
		if ctx.Err() != nil {
			t.Fatal("the read-ahead queued no batch")
		}
		time.Sleep(5 * time.Millisecond) // polling the read-ahead goroutine's progress
	}

	b := testReader(t, addr, "{count: 7}", scopePoll, 50)
	bDone := readLoop(ctx, b, 1, d)
	for {
		if _, _, byB := d.counts(); byB > 0 {
			break // B owns partitions, so A has revoked them
		}
		select {
		case <-d.kick:
		case err := <-bDone:
			t.Fatalf("B stopped: %v", err)
		case <-ctx.Done():
			t.Fatal("B never received records: no rebalance")
		}
	}
	aDone := readLoop(ctx, a, 0, d)
	for {
		if union, _, _ := d.counts(); union == total {
			break
		}
		select {
		case <-d.kick:
		case err := <-aDone:
			t.Fatalf("A stopped: %v", err)
		case err := <-bDone:
			t.Fatalf("B stopped: %v", err)
		case <-ctx.Done():
			union, _, _ := d.counts()
			t.Fatalf("delivered %d of %d records", union, total)
		}
	}
	for _, ack := range held {
		_ = ack(ctx, nil)
	}
	cancel()
	<-aDone
	<-bDone
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer closeCancel()
	_ = a.Close(closeCtx)
	_ = b.Close(closeCtx)
	// B reads its partitions from the last commit, which A's held batches
	// never reached: exactly those of their records that are B's come twice.
	bParts := map[string]bool{}
	d.mu.Lock()
	for k := range d.by[1] {
		p, _, _ := strings.Cut(k, "/")
		bParts[p] = true
	}
	d.mu.Unlock()
	want := 0
	for _, p := range heldParts {
		if bParts[p] {
			want++
		}
	}
	_, dups, _ := d.counts()
	t.Logf("%d duplicate deliveries; %d records in flight at the revoke, %d of them of B's partitions", dups, len(heldParts), want)
	if dups != want {
		t.Errorf("%d duplicates, want the %d in-flight records of B's partitions: a queued batch of revoked partitions was delivered", dups, want)
	}
	for p, off := range committed(t, addr, "g", "rides") {
		if off != perPartition {
			t.Errorf("partition %d committed %d, want %d", p, off, perPartition)
		}
	}
}
