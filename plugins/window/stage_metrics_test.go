package window

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// stageStream runs one tumbling_window stage in a stream that reports to the
// recorder, and returns a function that sends a batch and returns the
// stage's output. Options change the processor's YAML or add to the stream
// (as runStage's).
func stageStream(t *testing.T, rec *recorder, stage, cacheURL string, opts ...func(b *service.StreamBuilder, proc *string) error) (process func(...*service.Message) service.MessageBatch) {
	t.Helper()
	sb := recordingBuilder(t, rec)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sb.SetLoggerYAML("level: none"))
	must(sb.SetMetricsYAML("window_test_recorder: {}"))
	must(sb.AddCacheYAML("label: window_state\ncheckpoint:\n  url: " + cacheURL))
	proc := "tumbling_window:\n  " + strings.ReplaceAll(strings.TrimSpace(ridesYAML+"stage: "+stage+"\n"), "\n", "\n  ") + "\n"
	for _, o := range opts {
		must(o(sb, &proc))
	}
	must(sb.AddProcessorYAML(proc))
	out := make(chan service.MessageBatch, 64)
	must(sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		out <- b.Copy()
		return nil
	}))
	send, err := sb.AddBatchProducerFunc()
	must(err)
	st, err := sb.Build()
	must(err)
	done := make(chan error, 1)
	go func() { done <- st.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Stop(ctx)
		<-done
	})
	return func(batch ...*service.Message) service.MessageBatch {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		must(send(ctx, batch))
		var all service.MessageBatch
		for {
			select {
			case b := <-out:
				all = append(all, b...)
			default:
				return all // send returns once every output batch was consumed
			}
		}
	}
}

func gauge(t *testing.T, rec *recorder, name string) (int64, bool) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	v, ok := rec.vals[name]
	return v, ok
}

func wantGauge(t *testing.T, rec *recorder, name string, want int64) {
	t.Helper()
	if v, ok := gauge(t, rec, name); !ok || v != want {
		t.Errorf("%s = %d (present %v), want %d", name, v, ok, want)
	}
}

// Stage 1 reports each source partition's max event time; stage 2 reports,
// per internal partition, its watermark, the source partition that sets it
// and how far that one trails the most advanced source.
func TestStageMetricsNameThePartitionHoldingTheWatermark(t *testing.T) {
	ms := func(s string) int64 {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts.UnixMilli()
	}
	rec := newRecorder() // both stages report here
	stage1 := stageStream(t, rec, "partial", freshMemoryURL("stage-metrics-1"))
	stage2 := stageStream(t, rec, "merge", freshMemoryURL("stage-metrics-2"))

	// internal forwards stage 1's partials and markers meant for internal
	// partition 1 (of 2) to stage 2, at increasing offsets.
	off := 0
	internal := func(out service.MessageBatch) (msgs []*service.Message) {
		for _, m := range out {
			kind, _ := m.MetaGet(kindMeta)
			if _, ok := m.MetaGet(changelogKeyMeta); ok {
				continue
			}
			if q, ok := m.MetaGet(markerPartMeta); kind == kindMarker && ok && q != "1" {
				continue
			}
			body, _ := m.AsBytes()
			msgs = append(msgs, internalMsg(t, kind, body, 1, off, 1))
			off++
		}
		return msgs
	}

	// Source partition 1 delivers; partition 0 has not reported yet.
	out := stage1(stageMsg("2026-03-14T00:31:00Z", 1, 0, 1), stageMsg("2026-03-14T00:34:00Z", 1, 1, 1))
	wantGauge(t, rec, "window_source_max_event_time_ms{topic=rides,partition=1}", ms("2026-03-14T00:34:00Z"))
	if _, ok := gauge(t, rec, "window_source_max_event_time_ms{topic=rides,partition=0}"); ok {
		t.Error("a gauge for source partition 0, which delivered nothing")
	}
	stage2(internal(out)...)
	q := "{topic=rides_agg-repartition,partition=1}"
	wantGauge(t, rec, "window_merge_holdback_partition"+q, 0)
	wantGauge(t, rec, "window_merge_holdback_behind_seconds"+q, -1) // 0 never reported: the watermark is unset
	if _, ok := gauge(t, rec, "window_merge_watermark_ms"+q); ok {
		t.Error("a watermark while source partition 0 has not reported")
	}

	// Partition 0 reports, 40 minutes behind partition 1: it sets the watermark.
	out = stage1(stageMsg("2026-03-14T00:01:00Z", 0, 0, 1))
	wantGauge(t, rec, "window_source_max_event_time_ms{topic=rides,partition=0}", ms("2026-03-14T00:01:00Z"))
	stage2(internal(out)...)
	wantGauge(t, rec, "window_merge_holdback_partition"+q, 0)
	wantGauge(t, rec, "window_merge_holdback_behind_seconds"+q, 33*60)
	wantGauge(t, rec, "window_merge_watermark_ms"+q, ms("2026-03-13T23:51:00Z"))

	// Partition 0 overtakes: now partition 1 holds the watermark back.
	out = stage1(stageMsg("2026-03-14T00:50:00Z", 0, 1, 1))
	stage2(internal(out)...)
	wantGauge(t, rec, "window_merge_holdback_partition"+q, 1)
	wantGauge(t, rec, "window_merge_holdback_behind_seconds"+q, 16*60)
	wantGauge(t, rec, "window_merge_watermark_ms"+q, ms("2026-03-14T00:24:00Z"))

	// Rows are the source's: stage 1 counts the four rides, stage 2 its
	// partials under names of its own, so a sum over stages is the topic's rows.
	wantGauge(t, rec, "window_input_rows_total{}", 4)
	if v, _ := gauge(t, rec, "window_merge_input_partials_total{}"); v <= 0 {
		t.Errorf("window_merge_input_partials_total = %d, want the partials stage 2 merged", v)
	}
	wantGauge(t, rec, "window_merge_late_partials_total{}", 0)

	// Every name of docs/metrics.md's stage table is one of these.
	for _, name := range documentedMetrics(t, "## tumbling_window, stage partial or local / merge") {
		if !strings.Contains(" window_source_max_event_time_ms window_merge_watermark_ms window_merge_holdback_partition window_merge_holdback_behind_seconds window_merge_input_partials_total window_merge_replayed_partials_total window_merge_late_partials_total ", " "+name+" ") {
			t.Errorf("docs/metrics.md documents %s, which this test does not check", name)
		}
	}
}
