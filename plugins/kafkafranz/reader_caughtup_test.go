package kafkafranz

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// flush_when_caught_up: once the partitions a partial batch draws from are
// read to their end, the batch goes out without waiting for the period.
// Before, the last batch of a backlog waited up to a whole period (1 s in
// config/rides.yaml: ~20 % of a 2 M-ride drain's wall, docs/benchmarks.md).
// Without it the batch waits for the period, as in Benthos.
func TestPartialBatchFlushedWhenCaughtUp(t *testing.T) {
	forScopes(t, testPartialBatchFlushedWhenCaughtUp)
}

func testPartialBatchFlushedWhenCaughtUp(t *testing.T, scope string) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 30) // 10 per partition, below count

	r := testReader(t, addr, "{count: 1000, period: 1h}", scope, 1024)
	r.flushCaughtUp = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer r.Close(ctx)
	seen := 0
	for seen < 30 {
		b, ack, err := r.ReadBatch(ctx)
		if err != nil {
			t.Fatalf("after %d of 30 records: %v (the partial batch waited for the 1 h period)", seen, err)
		}
		seen += len(b)
		_ = ack(ctx, nil)
	}
	if seen != 30 {
		t.Fatalf("%d records delivered, want 30", seen)
	}

	// Off: the same partial batch waits for its period.
	produce(t, addr, "rides", 30, 30)
	r.flushCaughtUp = false
	wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer wcancel()
	if b, _, err := r.ReadBatch(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("flush_when_caught_up: false delivered a batch of %d before the period (err %v)", len(b), err)
	}
}

// The field defaults to true and is read into the reader.
func TestFlushWhenCaughtUpIsOnByDefault(t *testing.T) {
	spec := inputSpec()
	for yaml, want := range map[string]bool{
		"seed_brokers: [ x ]\ntopics: [ rides ]\n":                              true,
		"seed_brokers: [ x ]\ntopics: [ rides ]\nflush_when_caught_up: false\n": false,
	} {
		parsed, err := spec.ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := parsed.FieldBool(fieldFlushWhenCaughtUp); err != nil || got != want {
			t.Errorf("%q: flush_when_caught_up = %v (%v), want %v", yaml, got, err, want)
		}
	}
}
