package window

import (
	"strconv"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// metrics are the window_* series of docs/metrics.md.
type metrics struct {
	input, late, replayed, emitted *service.MetricCounter
	closedEarly                    *service.MetricCounter
	orderWaits, orderTimeouts      *service.MetricCounter
	splitBatches                   *service.MetricCounter // stage full held, not alone in its group
	configHeld                     *service.MetricCounter // batches held: a partial or a state of another window config
	staleRecordsDropped            *service.MetricCounter // records of a held batch whose partition moved meanwhile
	splitReloads                   *service.MetricCounter // stage full reloaded a state another process wrote
	staleFences                    *service.MetricCounter // the process left its group: its state is stale (stale_state.go)
	staleDropped                   *service.MetricCounter // batches applied to a stale state, dropped
	invalid                        *service.MetricCounter // label: reason
	missingMeta                    *service.MetricCounter // label: key (kafka_meta.go)
	lateTopics                     *service.MetricCounter // topics first seen after windows closed (late_topic.go)
	ckptWrites                     *service.MetricCounter
	lostHeldBatches                *service.MetricCounter // batches held as of a lost state (lost_state.go)
	lostHeld                       *service.MetricGauge   // stage full: 1 while held so; stage local: partitions held
	ckptLatency                    *service.MetricTimer
	open, stateBytes, idle         *service.MetricGauge
	watermark, maxEvent, lag       *service.MetricGauge

	// Scale-out stages, labelled by Kafka partition, so their cardinality
	// is bounded by the partition counts (docs/scale-out.md, "Operating").
	sourceMaxEvent         *service.MetricGauge // stage 1: topic, partition of the source
	mergeWatermark         *service.MetricGauge // stage 2: topic, partition of the internal topic
	mergeHoldback          *service.MetricGauge // stage 2: the source partition that sets it
	mergeHoldbackBehindSec *service.MetricGauge // stage 2: how far that one trails the most advanced

	// Stage 2 counts partial rows under names of its own: the window_*_rows
	// counters count source rows, so that their sum over a job's replicas and
	// stages is the rows of the topic (a partial stands for many of them).
	mergeInput, mergeReplayed, mergeLate *service.MetricCounter

	// Stage local with bundles.output: bundles queued or being written, and
	// failed writes (retried).
	bundlesPending    *service.MetricGauge
	bundleWriteErrors *service.MetricCounter
}

func newMetrics(m *service.Metrics) *metrics {
	wm := &metrics{
		input:       m.NewCounter("window_input_rows_total"),
		late:        m.NewCounter("window_late_rows_total"),
		closedEarly: m.NewCounter("window_late_rows_closed_early_total"),
		idle:        m.NewGauge("window_idle_partitions"),

		orderWaits:          m.NewCounter("window_order_waits_total"),
		orderTimeouts:       m.NewCounter("window_order_timeouts_total"),
		splitBatches:        m.NewCounter("window_split_topic_batches_total"),
		configHeld:          m.NewCounter("window_config_held_batches_total"),
		staleRecordsDropped: m.NewCounter("window_stale_records_dropped_total"),
		splitReloads:        m.NewCounter("window_state_reloads_total"),
		staleFences:         m.NewCounter("window_state_fenced_total"),
		staleDropped:        m.NewCounter("window_state_fenced_dropped_batches_total"),
		invalid:             m.NewCounter("window_invalid_rows_total", "reason"),
		missingMeta:         m.NewCounter("window_missing_kafka_metadata_batches_total", "key"),
		lateTopics:          m.NewCounter("window_late_topics_total"),
		replayed:            m.NewCounter("window_replayed_rows_total"),
		emitted:             m.NewCounter("window_emitted_rows_total"),
		open:                m.NewGauge("window_open_windows"),
		stateBytes:          m.NewGauge("window_state_bytes"),
		watermark:           m.NewGauge("window_watermark_ms"),
		maxEvent:            m.NewGauge("window_max_event_time_ms"),
		lag:                 m.NewGauge("window_watermark_lag_seconds"),
		ckptWrites:          m.NewCounter("window_checkpoint_writes_total"),
		lostHeld:            m.NewGauge("window_state_lost"),
		lostHeldBatches:     m.NewCounter("window_state_lost_held_batches_total"),
		ckptLatency:         m.NewTimer("window_checkpoint_latency_ns"),

		sourceMaxEvent:         m.NewGauge("window_source_max_event_time_ms", "topic", "partition"),
		mergeWatermark:         m.NewGauge("window_merge_watermark_ms", "topic", "partition"),
		mergeHoldback:          m.NewGauge("window_merge_holdback_partition", "topic", "partition"),
		mergeHoldbackBehindSec: m.NewGauge("window_merge_holdback_behind_seconds", "topic", "partition"),

		mergeInput:    m.NewCounter("window_merge_input_partials_total"),
		mergeReplayed: m.NewCounter("window_merge_replayed_partials_total"),
		mergeLate:     m.NewCounter("window_merge_late_partials_total"),

		bundlesPending:    m.NewGauge("window_bundles_pending"),
		bundleWriteErrors: m.NewCounter("window_bundle_write_errors_total"),
	}
	// Counters exist from the start at 0, so rate()/increase() alerts see the
	// first late or replayed row. (The reason-labelled one cannot: its labels
	// are only known when a row fails.)
	for _, c := range []*service.MetricCounter{wm.input, wm.late, wm.closedEarly, wm.replayed, wm.emitted,
		wm.ckptWrites, wm.orderWaits, wm.orderTimeouts, wm.splitBatches, wm.splitReloads, wm.lostHeldBatches,
		wm.staleFences, wm.staleDropped, wm.configHeld, wm.staleRecordsDropped, wm.lateTopics} {
		c.Incr(0)
	}
	wm.idle.Set(0)
	wm.lostHeld.Set(0)
	return wm
}

// observeSources (stage 1) records each source partition's max event time
// from the markers of a batch: the progress this replica sends for the
// partitions it owns. A gauge of a partition that moved away keeps its last
// value; max by (topic, partition) over replicas is still right, since the
// new owner resumes from the changelog and only goes up.
func (m *metrics) observeSources(markers []engine.Marker) {
	for i := range markers {
		if mk := &markers[i]; mk.MaxMs > 0 {
			m.sourceMaxEvent.Set(mk.MaxMs, mk.Topic, strconv.Itoa(int(mk.Partition)))
		}
	}
}

// observeInternal (stage 2) records internal partition q's watermark, the
// source partition that sets it (-1: none, every source idle) and how far
// that source trails the most advanced one, in seconds (-1 while it has sent
// no marker at all: it holds the watermark unset, the worst case).
func (m *metrics) observeInternal(topic string, q int32, eng *engine.Engine, now time.Time) {
	part := strconv.Itoa(int(q))
	if wm, ok := eng.Watermark(); ok {
		m.mergeWatermark.Set(wm, topic, part)
	}
	h, ok := eng.Holdback(now)
	if !ok {
		m.mergeHoldback.Set(-1, topic, part)
		m.mergeHoldbackBehindSec.Set(0, topic, part)
		return
	}
	m.mergeHoldback.Set(int64(h.Partition), topic, part)
	behind := int64(-1)
	if h.Reported {
		behind = (h.LeadMs - h.MaxMs) / 1000
	}
	m.mergeHoldbackBehindSec.Set(behind, topic, part)
}
