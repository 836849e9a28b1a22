package window

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// bundleSinks are the test output resources' hooks, by label.
var bundleSinks sync.Map // label → func(context.Context, service.MessageBatch) error

func init() {
	service.MustRegisterBatchOutput("window_bundle_test_sink", service.NewConfigSpec().Summary("test only").Field(service.NewStringField("hook")),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			hook, err := conf.FieldString("hook")
			return bundleSink{hook}, service.BatchPolicy{}, 1, err
		})
}

type bundleSink struct{ hook string }

func (bundleSink) Connect(context.Context) error { return nil }
func (bundleSink) Close(context.Context) error   { return nil }
func (s bundleSink) WriteBatch(ctx context.Context, b service.MessageBatch) error {
	f, _ := bundleSinks.Load(s.hook)
	return f.(func(context.Context, service.MessageBatch) error)(ctx, b)
}

// withBundlesOutput makes stage local write its bundles to a test output
// resource that calls write.
func withBundlesOutput(t *testing.T, write func(context.Context, service.MessageBatch) error) func(*service.StreamBuilder, *string) error {
	hook := t.Name()
	bundleSinks.Store(hook, write)
	t.Cleanup(func() { bundleSinks.Delete(hook) })
	return func(b *service.StreamBuilder, proc *string) error {
		*proc += "  bundles: { output: internal_topic, period: 0s }\n"
		return b.AddResourcesYAML(fmt.Sprintf("output_resources:\n  - label: internal_topic\n    window_bundle_test_sink: { hook: %q }\n", hook))
	}
}

// With bundles.output, stage local passes nothing on: its bundles reach the
// output resource, and stage merge of them still equals stage full's rows,
// whatever the pipeline threads and batches.
func TestStreamLocalWithABundlesOutputEqualsFull(t *testing.T) {
	parts := streamRides()
	for threads := 1; threads <= 4; threads += 3 {
		for seed := int64(1); seed <= 2; seed++ {
			t.Run(fmt.Sprintf("threads=%d/seed=%d", threads, seed), func(t *testing.T) {
				full := streamFull(t, parts, threads, seed)
				internal := make([]service.MessageBatch, len(parts))
				var mu sync.Mutex
				opt := withBundlesOutput(t, func(_ context.Context, b service.MessageBatch) error {
					mu.Lock()
					defer mu.Unlock()
					for _, m := range b {
						kind, _ := m.MetaGet(kindMeta)
						q, ok := metaInt(m, markerPartMeta)
						body, _ := m.AsBytes()
						if kind != kindBundle || !ok {
							t.Errorf("the bundles output got %q (metadata %s %q)", body, kindMeta, kind)
							continue
						}
						rec := service.NewMessage(append([]byte(nil), body...))
						rec.MetaSetMut(kindMeta, kind)
						internal[q] = append(internal[q], rec)
					}
					return nil
				})
				send, stop := runStage(t, threads, "local", func(b service.MessageBatch) {
					t.Errorf("stage local passed on %d messages with bundles.output set", len(b))
				}, opt)
				feedPartitions(t, send, parts, seed)
				stop()
				mu.Lock()
				defer mu.Unlock()
				mergeEqualsFull(t, internal, full, threads, seed)
			})
		}
	}
}

// A batch whose rows close windows is released before its bundles are
// written: the input does not keep its records while the internal topic
// is slow or down.
func TestStreamLocalReleasesABatchBeforeItsBundlesAreWritten(t *testing.T) {
	release := make(chan struct{})
	wrote := make(chan int, 64)
	opt := withBundlesOutput(t, func(ctx context.Context, b service.MessageBatch) error {
		select {
		case <-release:
			wrote <- len(b)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	send, stop := runStage(t, 1, "local", func(b service.MessageBatch) {
		t.Errorf("stage local passed on %d messages with bundles.output set", len(b))
	}, opt)
	ride := func(off int, minute int) *service.Message {
		m := service.NewMessage(fmt.Appendf(nil, `{"ts":"2025-01-01T00:%02d:00Z","city":"PARIS","price":1,"distanceKm":1}`, minute))
		m.MetaSetMut("kafka_topic", "rides")
		m.MetaSetMut("kafka_partition", 0)
		m.MetaSetMut("kafka_offset", off)
		m.MetaSetMut("kafka_topic_partitions", 1)
		return m
	}
	send(service.MessageBatch{ride(0, 1)})
	// Minute 20 passes the watermark of [0,5): bundles are queued, their
	// write held; send returns once the batch is acknowledged.
	done := make(chan struct{})
	go func() {
		send(service.MessageBatch{ride(1, 20)})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the batch that closed a window waited for its bundles' write")
	}
	close(release)
	stop()
	n := 0
	for len(wrote) > 0 {
		n += <-wrote
	}
	if n == 0 {
		t.Fatal("no bundle was written, not even at Close")
	}
}

// The bundle writer's metrics (docs/metrics.md, "stage local's bundle
// writer"): each failed write counted, the unwritten bundles gauged until
// a write takes them.
func TestBundleWriterMetrics(t *testing.T) {
	var attempts atomic.Int32
	third := make(chan struct{})
	release := make(chan struct{})
	opt := withBundlesOutput(t, func(ctx context.Context, b service.MessageBatch) error {
		switch attempts.Add(1) {
		case 1, 2:
			return errors.New("internal topic down")
		case 3:
			close(third)
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	rec := newRecorder()
	process := stageStream(t, rec, "local", freshMemoryURL("bundle-writer-metrics"), opt)
	// Partition 0 reaches 10:30: its watermark passes the window of 10:01.
	if out := process(localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1), localMsg("2026-03-14T10:30:00Z", 0, 1, 1, 5, -1)); len(out) != 0 {
		t.Fatalf("stage local passed on %d messages with bundles.output set", len(out))
	}
	select {
	case <-third:
	case <-time.After(30 * time.Second):
		t.Fatal("no third write attempt")
	}
	wantGauge(t, rec, "window_bundle_write_errors_total{}", 2)
	if v, _ := gauge(t, rec, "window_bundles_pending{}"); v <= 0 {
		t.Errorf("window_bundles_pending = %d while a write is in progress, want the bundles it carries", v)
	}
	close(release)
	for i := 0; ; i++ { // the writer records the delivery after the write returns
		if v, _ := gauge(t, rec, "window_bundles_pending{}"); v == 0 {
			break
		}
		if i == 3000 {
			t.Fatal("window_bundles_pending did not come back to 0 after the write")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, name := range documentedMetrics(t, "## tumbling_window, stage local's bundle writer") {
		if name != "window_bundles_pending" && name != "window_bundle_write_errors_total" {
			t.Errorf("docs/metrics.md documents %s, which this test does not check", name)
		}
	}
}
