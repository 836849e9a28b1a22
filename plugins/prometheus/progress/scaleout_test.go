package progress

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A replica of a scaled-out job: its progress event lists the partitions it
// owns and what each stage holds for them, leaving out the series of a
// partition that moved to another replica.
func TestProgressShowsAssignmentAndStageWatermarks(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t)
	r := NewReporter(Config{Name: "rides", Now: clk.Now})
	r.Started(p.snap(t))
	in1 := []string{"label", "rides_in", "path", "root.input.broker.inputs.0"}
	in2 := []string{"label", "merge_in", "path", "root.input.broker.inputs.1"}
	kv := func(base []string, topic, part string) []string {
		return append(append([]string{}, base...), "topic", topic, "partition", part)
	}
	for _, part := range []string{"0", "3"} {
		p.gauge("kafka_input_partition_assigned", 1, kv(in1, "rides", part)...)
		p.gauge("kafka_input_partition_assigned", 1, kv(in2, "rides-repartition", part)...)
	}
	p.gauge("kafka_input_partition_assigned", 0, kv(in1, "rides", "1")...) // moved away
	p.gauge("kafka_input_partition_assigned", 0, kv(in2, "rides-repartition", "1")...)
	p.gauge("kafka_input_lag", 12, kv(in2, "rides-repartition", "3")...)
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	stage1 := []string{"label", "partial", "path", "root.pipeline.processors.2"}
	stage2 := []string{"label", "merge", "path", "root.pipeline.processors.3"}
	p.gauge("window_source_max_event_time_ms", float64(t0.UnixMilli()), kv(stage1, "rides", "0")...)
	p.gauge("window_source_max_event_time_ms", float64(t0.Add(time.Minute).UnixMilli()), kv(stage1, "rides", "3")...)
	p.gauge("window_source_max_event_time_ms", float64(t0.Add(-time.Hour).UnixMilli()), kv(stage1, "rides", "1")...) // stale
	p.gauge("window_merge_watermark_ms", float64(t0.Add(-10*time.Minute).UnixMilli()), kv(stage2, "rides-repartition", "0")...)
	p.gauge("window_merge_holdback_partition", 4, kv(stage2, "rides-repartition", "0")...)
	p.gauge("window_merge_holdback_behind_seconds", 90, kv(stage2, "rides-repartition", "0")...)
	p.gauge("window_merge_holdback_partition", 5, kv(stage2, "rides-repartition", "3")...) // no watermark yet
	p.gauge("window_merge_holdback_behind_seconds", -1, kv(stage2, "rides-repartition", "3")...)
	p.gauge("window_merge_holdback_partition", 2, kv(stage2, "rides-repartition", "1")...) // stale
	clk.Advance(10 * time.Second)

	pr := r.Progress(p.snap(t))
	wantAssign := []Assignment{{Topic: "rides", Partitions: []int32{0, 3}}, {Topic: "rides-repartition", Partitions: []int32{0, 3}}}
	if !reflect.DeepEqual(pr.Assignment, wantAssign) {
		t.Errorf("assignment = %+v, want %+v", pr.Assignment, wantAssign)
	}
	wantStages := &Stages{
		Partial: []SourceProgress{
			{Topic: "rides", Partition: 0, MaxEventTime: "2026-11-26T09:00:00.000Z"},
			{Topic: "rides", Partition: 3, MaxEventTime: "2026-11-26T09:01:00.000Z"},
		},
		Merge: []MergeProgress{
			{Topic: "rides-repartition", Partition: 0, Watermark: "2026-11-26T08:50:00.000Z", HoldbackPartition: 4, HoldbackBehindSeconds: 90},
			{Topic: "rides-repartition", Partition: 3, HoldbackPartition: 5, HoldbackBehindSeconds: -1, OffsetsBehindLatest: 12},
		},
	}
	if !reflect.DeepEqual(pr.Stages, wantStages) {
		t.Errorf("stages = %+v, want %+v", pr.Stages, wantStages)
	}
	b, _ := json.Marshal(pr)
	for _, want := range []string{
		`"assignment":[{"topic":"rides","partitions":[0,3]},{"topic":"rides-repartition","partitions":[0,3]}]`,
		`"merge":[{"topic":"rides-repartition","partition":0,"watermark":"2026-11-26T08:50:00.000Z","holdbackPartition":4,"holdbackBehindSeconds":90,"offsetsBehindLatest":0}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
}

// A single-process job without the stages shows neither section.
func TestProgressOfAnUnscaledJobHasNoStages(t *testing.T) {
	p := newPipeline(t)
	p.gauge("kafka_input_lag", 3, "topic", "rides", "partition", "0")
	p.gauge("window_watermark_ms", 1)
	r := NewReporter(Config{Name: "rides"})
	r.Started(p.snap(t))
	b, _ := json.Marshal(r.Progress(p.snap(t)))
	if strings.Contains(string(b), `"stages"`) || strings.Contains(string(b), `"assignment"`) {
		t.Errorf("unscaled job: %s", b)
	}
}
