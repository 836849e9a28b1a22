package progress

import (
	"sort"
	"strconv"
)

// Metric names of a scaled-out job (docs/metrics.md).
const (
	mKafkaAssigned  = "kafka_input_partition_assigned"
	mSourceMaxEvent = "window_source_max_event_time_ms"
	mMergeWatermark = "window_merge_watermark_ms"
	mMergeHoldback  = "window_merge_holdback_partition"
	mMergeBehind    = "window_merge_holdback_behind_seconds"
)

// Assignment lists the partitions of one topic this replica owns.
type Assignment struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// Stages is what each scale-out stage of this replica holds, for the
// partitions it owns (a series of a partition that moved away is left out).
type Stages struct {
	// Partial: per source partition, its max event time (stage 1).
	Partial []SourceProgress `json:"partial,omitempty"`
	// Merge: per internal partition, its watermark and who holds it (stage 2).
	Merge []MergeProgress `json:"merge,omitempty"`
}

// SourceProgress is a source partition as stage 1 last reported it.
type SourceProgress struct {
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"`
	MaxEventTime string `json:"maxEventTime"`
}

// MergeProgress is an internal partition of stage 2.
type MergeProgress struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Watermark string `json:"watermark,omitempty"` // empty while a source partition has not reported
	// HoldbackPartition is the source partition that sets the watermark
	// (-1: every one idle); HoldbackBehindSeconds how far it trails the
	// most advanced one (-1: it has not reported at all).
	HoldbackPartition     int32 `json:"holdbackPartition"`
	HoldbackBehindSeconds int64 `json:"holdbackBehindSeconds"`
	// OffsetsBehindLatest is this input's lag on the partition.
	OffsetsBehindLatest int64 `json:"offsetsBehindLatest"`
}

type topicPart struct {
	topic string
	part  int32
}

func (tp topicPart) less(o topicPart) bool {
	return tp.topic < o.topic || (tp.topic == o.topic && tp.part < o.part)
}

// byPartition indexes a family's series by their topic and partition labels.
func byPartition(v Value) map[topicPart]float64 {
	out := map[topicPart]float64{}
	for _, s := range v.Series {
		p, err := strconv.Atoi(s.Labels["partition"])
		if err != nil {
			continue
		}
		out[topicPart{s.Labels["topic"], int32(p)}] = s.Value
	}
	return out
}

// scaleOut builds the assignment and stage sections of a progress event;
// both are empty for a job that exposes none of their metrics.
func scaleOut(s Snapshot) ([]Assignment, *Stages) {
	assigned := byPartition(s[mKafkaAssigned])
	owned := func(tp topicPart) bool {
		if len(assigned) == 0 {
			return true // no assignment metrics (explicit partitions): every series counts
		}
		return assigned[tp] == 1
	}
	var tps []topicPart
	for tp, v := range assigned {
		if v == 1 {
			tps = append(tps, tp)
		}
	}
	sort.Slice(tps, func(i, j int) bool { return tps[i].less(tps[j]) })
	var out []Assignment
	for _, tp := range tps {
		if n := len(out); n == 0 || out[n-1].Topic != tp.topic {
			out = append(out, Assignment{Topic: tp.topic, Partitions: []int32{}})
		}
		out[len(out)-1].Partitions = append(out[len(out)-1].Partitions, tp.part)
	}

	st := &Stages{}
	for _, tp := range sortedOwned(byPartition(s[mSourceMaxEvent]), owned) {
		st.Partial = append(st.Partial, SourceProgress{Topic: tp.topic, Partition: tp.part,
			MaxEventTime: epochMs(byPartition(s[mSourceMaxEvent])[tp])})
	}
	wm, hold, behind, lag := byPartition(s[mMergeWatermark]), byPartition(s[mMergeHoldback]), byPartition(s[mMergeBehind]), byPartition(s[mKafkaLag])
	for _, tp := range sortedOwned(hold, owned) {
		st.Merge = append(st.Merge, MergeProgress{Topic: tp.topic, Partition: tp.part,
			Watermark: epochMs(wm[tp]), HoldbackPartition: int32(hold[tp]), HoldbackBehindSeconds: int64(behind[tp]),
			OffsetsBehindLatest: int64(lag[tp])})
	}
	if len(st.Partial) == 0 && len(st.Merge) == 0 {
		st = nil
	}
	return out, st
}

func sortedOwned(m map[topicPart]float64, owned func(topicPart) bool) []topicPart {
	var out []topicPart
	for tp := range m {
		if owned(tp) {
			out = append(out, tp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].less(out[j]) })
	return out
}
