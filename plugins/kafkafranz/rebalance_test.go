package kafkafranz

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// deliveries counts, per "partition/offset", how often each reader delivered
// a record.
type deliveries struct {
	mu   sync.Mutex
	by   [2]map[string]int
	kick chan struct{}
}

func newDeliveries() *deliveries {
	return &deliveries{by: [2]map[string]int{{}, {}}, kick: make(chan struct{}, 1)}
}

func (d *deliveries) add(who int, b service.MessageBatch) {
	d.mu.Lock()
	for _, m := range b {
		p, _ := m.MetaGet("kafka_partition")
		o, _ := m.MetaGet("kafka_offset")
		d.by[who][p+"/"+o]++
	}
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// union is the number of distinct records delivered; dups the records
// delivered more than once, by either reader or both.
func (d *deliveries) counts() (union, dups, byB int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	all := map[string]int{}
	for _, m := range d.by {
		for k, n := range m {
			all[k] += n
		}
	}
	for _, n := range all {
		if n > 1 {
			dups += n - 1
		}
	}
	return len(all), dups, len(d.by[1])
}

// testReader connects a reader of topic rides in group g with the given
// batching policy YAML, batch scope and checkpoint_limit.
func testReader(t *testing.T, addr, batching, scope string, checkpointLimit int) *reader {
	t.Helper()
	parsed, err := service.NewConfigSpec().Field(service.NewBatchPolicyField("b")).ParseYAML("b: "+batching, nil)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := parsed.FieldBatchPolicy("b")
	if err != nil {
		t.Fatal(err)
	}
	r, err := newReader(franz.ConsumerConfig{
		Client:          franz.ClientConfig{SeedBrokers: []string{addr}},
		Topics:          franz.TopicSpec{Topics: []string{"rides"}},
		Group:           "g",
		CheckpointLimit: checkpointLimit,
		CommitPeriod:    time.Hour, // commits only on revoke and close
		FetchMaxWait:    100 * time.Millisecond,
	}, policy, false, metaOptions{}, scope, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// readLoop delivers and acks batches until ctx ends.
func readLoop(ctx context.Context, r *reader, who int, d *deliveries) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			b, ack, err := r.ReadBatch(ctx)
			if err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				done <- err
				return
			}
			d.add(who, b)
			_ = ack(ctx, nil)
		}
	}()
	return done
}

// Consumer A has fetched far more than it handed downstream when B joins and
// takes half of the partitions. Records of the lost partitions that A had
// fetched but not delivered must be dropped, so duplicates are bounded by
// what A had in flight downstream (held, un-acked batches); acks of those
// held batches after the revoke must not commit. Every record is delivered.
func TestRebalanceDuplicatesBoundedByInFlight(t *testing.T) {
	forScopes(t, func(t *testing.T, scope string) { testRebalanceDuplicatesBoundedByInFlight(t, scope) })
}

func testRebalanceDuplicatesBoundedByInFlight(t *testing.T, scope string) {
	for name, batching := range map[string]string{"unbatched": "{}", "batched": "{count: 7}"} {
		t.Run(name, func(t *testing.T) {
			const partitions, perPartition = 6, 300
			const total = partitions * perPartition
			_, addr := newCluster(t, kfake.SeedTopics(partitions, "rides"))
			produce(t, addr, "rides", 0, total)
			d := newDeliveries()

			a := testReader(t, addr, batching, scope, 50)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// A takes three batches downstream and holds them: its in-flight.
			// (Unbatched poll scope makes the whole first poll one batch, and
			// checkpoint_limit then pauses every partition: take what is ready.)
			var held []service.AckFunc
			inFlight := 0
			for i := 0; i < 3 && (i == 0 || len(a.ready) > 0); i++ {
				b, ack, err := a.ReadBatch(ctx)
				if err != nil {
					t.Fatal(err)
				}
				d.add(0, b)
				inFlight += len(b)
				held = append(held, ack)
			}
			buffered := 0 // read by this goroutine only: no ReadBatch runs now
			for _, rb := range a.ready {
				buffered += len(rb.batch)
			}
			t.Logf("A: %d records in flight downstream, %d fetched and waiting in the reader", inFlight, buffered)

			b := testReader(t, addr, batching, scope, 50)
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
				_ = ack(ctx, nil) // late acks: partitions now B's must not commit from A
			}
			cancel()
			for _, done := range []<-chan error{aDone, bDone} {
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("reader: %v", err)
				}
			}
			closeCtx, closeCancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer closeCancel()
			_ = a.Close(closeCtx)
			_ = b.Close(closeCtx)

			_, dups, _ := d.counts()
			t.Logf("%d duplicate deliveries (bound: %d in flight at the revoke)", dups, inFlight)
			if dups > inFlight {
				t.Errorf("%d duplicates after the rebalance, more than the %d records A had in flight: records fetched for revoked partitions were delivered", dups, inFlight)
			}
			for p, off := range committed(t, addr, "g", "rides") {
				if off != perPartition {
					t.Errorf("partition %d committed %d, want %d", p, off, perPartition)
				}
			}
		})
	}
}
