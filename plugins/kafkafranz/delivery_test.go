package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
)

func groupInput(addr, group string, extra string) string {
	return fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topics: [ rides ]
  consumer_group: %s
  commit_period: 100ms
  heartbeat_interval: 100ms
%s`, addr, group, extra)
}

func metaInt(m *service.Message, key string) int {
	v, _ := m.MetaGetMut(key)
	i, _ := v.(int)
	return i
}

// The stream is stopped while a batch is stuck downstream: the commit never
// passes it, and a restarted stream delivers every record at least once.
func TestInputStopMidStreamThenRestart(t *testing.T) { forScopes(t, testInputStopMidStreamThenRestart) }

func testInputStopMidStreamThenRestart(t *testing.T, scope string) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 300)

	const stuckPart, stuckOffset = 1, 40
	col := newCollector()
	reached := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	stop := runInput(t, groupInput(addr, "g", scoped(scope)+"  checkpoint_limit: 16\n"), func(ctx context.Context, b service.MessageBatch) error {
		for _, m := range b {
			if metaInt(m, "kafka_partition") == stuckPart && metaInt(m, "kafka_offset") == stuckOffset {
				once.Do(func() { close(reached) })
				select { // stuck until the test "crashes" the stream
				case <-release:
				case <-ctx.Done():
				}
				return errors.New("downstream crashed")
			}
		}
		col.add(b)
		return nil
	})
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck record was never delivered")
	}
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	close(release)
	<-done

	got := committed(t, addr, "g", "rides")
	if got[stuckPart] > stuckOffset {
		t.Fatalf("partition %d committed %d, past the un-acked offset %d", stuckPart, got[stuckPart], stuckOffset)
	}

	col2 := newCollector()
	stop2 := runInput(t, groupInput(addr, "g", scoped(scope)), func(_ context.Context, b service.MessageBatch) error { col2.add(b); return nil })
	// The restarted stream starts at the commits, so it sees at least the rest.
	union := func() int {
		col.mu.Lock()
		defer col.mu.Unlock()
		col2.mu.Lock()
		defer col2.mu.Unlock()
		all := map[string]bool{}
		for k := range col.seen {
			all[k] = true
		}
		for k := range col2.seen {
			all[k] = true
		}
		return len(all)
	}
	deadline := time.After(30 * time.Second)
	for union() < 300 {
		select {
		case <-col2.cond:
		case <-deadline:
			t.Fatalf("only %d of 300 records delivered across the restart", union())
		}
	}
	if col2.deliveries(fmt.Sprintf("rides/%d/%d", stuckPart, stuckOffset)) == 0 {
		t.Fatal("the record stuck at the crash was not re-delivered")
	}
	stop2()
	for p, off := range committed(t, addr, "g", "rides") {
		if off != 100 {
			t.Errorf("partition %d committed %d after a clean stop, want 100", p, off)
		}
	}
}

// Nacked batches are replayed until they succeed; nothing is lost and the
// commit reaches the end only once everything was acked.
func TestInputNackReplays(t *testing.T) { forScopes(t, testInputNackReplays) }

func testInputNackReplays(t *testing.T, scope string) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "rides"))
	produce(t, addr, "rides", 0, 100)
	var mu sync.Mutex
	attempts := map[string]int{}
	col := newCollector()
	stop := runInput(t, groupInput(addr, "g", scoped(scope)), func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		first := false
		for _, m := range b {
			k := fmt.Sprintf("%d/%d", metaInt(m, "kafka_partition"), metaInt(m, "kafka_offset"))
			attempts[k]++
			first = first || attempts[k] == 1
		}
		mu.Unlock()
		if first {
			return errors.New("transient failure")
		}
		col.add(b)
		return nil
	})
	col.waitDistinct(t, 100)
	stop()
	for k, n := range attempts {
		if n < 2 {
			t.Errorf("record %s delivered %d times, want a replay after the nack", k, n)
		}
	}
	for p, off := range committed(t, addr, "g", "rides") {
		if off != 50 {
			t.Errorf("partition %d committed %d, want 50", p, off)
		}
	}
}

// Two streams in one group: the second joins mid-stream, partitions move,
// every record is delivered, and the final commits reach the log end.
func TestInputRebalanceTwoConsumers(t *testing.T) { forScopes(t, testInputRebalanceTwoConsumers) }

func testInputRebalanceTwoConsumers(t *testing.T, scope string) {
	_, addr := newCluster(t, kfake.SeedTopics(6, "rides"))
	produce(t, addr, "rides", 0, 600)

	colA, colB := newCollector(), newCollector()
	stopA := runInput(t, groupInput(addr, "g", scoped(scope)), func(_ context.Context, b service.MessageBatch) error { colA.add(b); return nil })
	colA.waitDistinct(t, 100)
	stopB := runInput(t, groupInput(addr, "g", scoped(scope)), func(_ context.Context, b service.MessageBatch) error { colB.add(b); return nil })

	union := func() int {
		all := map[string]bool{}
		for _, c := range []*collector{colA, colB} {
			c.mu.Lock()
			for k := range c.seen {
				all[k] = true
			}
			c.mu.Unlock()
		}
		return len(all)
	}
	// Keep producing until B has been given partitions and consumed from them.
	deadline := time.After(30 * time.Second)
	next := 600
	for colB.distinct() == 0 {
		produce(t, addr, "rides", next, 60)
		next += 60
		select {
		case <-colB.cond:
		case <-time.After(200 * time.Millisecond): // production pacing, not a correctness wait
		case <-deadline:
			t.Fatal("the second consumer never received records: no rebalance")
		}
	}
	for union() < next {
		select {
		case <-colA.cond:
		case <-colB.cond:
		case <-deadline:
			t.Fatalf("delivered %d of %d records", union(), next)
		}
	}
	stopA()
	stopB()
	for p, off := range committed(t, addr, "g", "rides") {
		if off != int64(next/6) {
			t.Errorf("partition %d committed %d, want %d", p, off, next/6)
		}
	}
}

// fail_on_data_loss: true stops the stream when the committed offset fell
// out of the log, without delivering anything past the loss.
func TestInputFailOnDataLossStopsStream(t *testing.T) {
	forScopes(t, testInputFailOnDataLossStopsStream)
}

func testInputFailOnDataLossStopsStream(t *testing.T, scope string) {
	c0, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	produce(t, addr, "rides", 0, 20)
	col := newCollector()
	stop := runInput(t, groupInput(addr, "g", scoped(scope)), func(_ context.Context, b service.MessageBatch) error { col.add(b); return nil })
	col.waitDistinct(t, 20)
	stop()
	produce(t, addr, "rides", 20, 20)
	if err := c0.DeleteRecords("rides", 0, 30); err != nil {
		t.Fatal(err)
	}

	sink := &syncBuffer{lines: make(chan string, 100)}
	exp := &recordingExporter{values: map[string]int64{}}
	env := service.NewEnvironment()
	if err := env.RegisterMetricsExporter("recording", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return exp, nil }); err != nil {
		t.Fatal(err)
	}
	sb := env.NewStreamBuilder()
	if err := sb.SetMetricsYAML("recording: {}"); err != nil {
		t.Fatal(err)
	}
	sb.SetLogger(slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := sb.AddInputYAML(groupInput(addr, "g", scoped(scope)+"  fail_on_data_loss: true\n")); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	if err := sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error { delivered += len(b); return nil }); err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := stream.Run(ctx); err != nil {
		t.Fatalf("the stream did not stop by itself: %v", err)
	}
	if delivered != 0 {
		t.Fatalf("%d records delivered past the data loss", delivered)
	}
	if !strings.Contains(sink.String(), "records [20, 30) were deleted") {
		t.Fatalf("the stop is not explained in the log:\n%s", sink.String())
	}
	if got := committed(t, addr, "g", "rides")[0]; got != 20 {
		t.Fatalf("committed %d, want 20 (unchanged)", got)
	}
	if !strings.Contains(sink.String(), "STOPPED ON DATA LOSS") {
		t.Errorf("no unmistakable stop line in the log:\n%s", sink.String())
	}
	if got := exp.sum("kafka_input_stopped_on_data_loss"); got != 1 {
		t.Errorf("kafka_input_stopped_on_data_loss = %d, want 1", got)
	}
	if got := exp.sum("kafka_input_offset_resets_total", "partition=0"); got != 1 {
		t.Errorf("kafka_input_offset_resets_total{partition=0} = %d, want 1", got)
	}
}
