package kafkafranz

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
)

// A batch never holds two assignment epochs of a partition: tumbling_window
// stage partial reads kafka_assignment_epoch at the ends of a partition's
// run only. Here the first batch (offsets 0-3) is nacked while offsets 4-5
// wait in the partition's batcher (count 4, no period, no flush when caught
// up); the abort rewinds to offset 0 in a new epoch, and what the batcher
// held from the old one must not go out with the records read again.
func TestTxnBatchesHoldOneAssignmentEpoch(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "A"))
	produce(t, addr, "A", 0, 6)
	type batch struct {
		epochs  []int
		offsets []int
	}
	var mu sync.Mutex
	var got []batch
	stop := runInput(t, fmt.Sprintf(`
label: src
kafka_franz:
  seed_brokers: [ %q ]
  topics: [ A ]
  consumer_group: eb
  flush_when_caught_up: false
  batching: { count: 4, period: 1h }
  transaction: { enabled: true, id: eb-1, commit_period: 20ms }
`, addr), func(_ context.Context, b service.MessageBatch) error {
		var one batch
		for _, m := range b {
			e, _ := m.MetaGetMut("kafka_assignment_epoch")
			o, _ := m.MetaGetMut("kafka_offset")
			if !slices.Contains(one.epochs, e.(int)) {
				one.epochs = append(one.epochs, e.(int))
			}
			one.offsets = append(one.offsets, o.(int))
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, one)
		if len(got) == 1 {
			return fmt.Errorf("first batch fails: the transaction aborts")
		}
		return nil
	})
	defer stop()
	// after is what came in epochs after the first batch's, in order.
	after := func() []int {
		mu.Lock()
		defer mu.Unlock()
		var offs []int
		for _, b := range got[min(len(got), 1):] {
			if len(b.epochs) == 1 && b.epochs[0] != got[0].epochs[0] {
				offs = append(offs, b.offsets...)
			}
		}
		return offs
	}
	waitFor := func(what string, done func([]int) bool) {
		deadline := time.Now().Add(30 * time.Second)
		for !done(after()) {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("waiting for %s: batches %+v", what, got)
			}
			time.Sleep(10 * time.Millisecond) // polling the stream's progress
		}
	}
	waitFor("offset 0 in a new epoch", func(o []int) bool { return len(o) > 0 })
	produce(t, addr, "A", 6, 2) // completes the batch of offsets 4-7
	waitFor("offsets 0-7 in the new epoch", func(o []int) bool { return len(o) >= 8 })
	stop()
	if o := after(); !slices.Equal(o, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("after the abort offsets %v came, want 0-7 once each", o)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, b := range got {
		if len(b.epochs) != 1 {
			t.Errorf("batch %d %v holds epochs %v", i, b.offsets, b.epochs)
		}
	}
}
