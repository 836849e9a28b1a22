package window

import "github.com/redpanda-data/benthos/v4/public/service"

// metrics are the window_* series of docs/metrics.md.
type metrics struct {
	input, late, replayed, emitted *service.MetricCounter
	closedEarly                    *service.MetricCounter
	orderWaits, orderTimeouts      *service.MetricCounter
	invalid                        *service.MetricCounter // label: reason
	ckptWrites                     *service.MetricCounter
	ckptLatency                    *service.MetricTimer
	open, stateBytes, idle         *service.MetricGauge
	watermark, maxEvent, lag       *service.MetricGauge
}

func newMetrics(m *service.Metrics) *metrics {
	wm := &metrics{
		input:       m.NewCounter("window_input_rows_total"),
		late:        m.NewCounter("window_late_rows_total"),
		closedEarly: m.NewCounter("window_late_rows_closed_early_total"),
		idle:        m.NewGauge("window_idle_partitions"),

		orderWaits:    m.NewCounter("window_order_waits_total"),
		orderTimeouts: m.NewCounter("window_order_timeouts_total"),
		invalid:       m.NewCounter("window_invalid_rows_total", "reason"),
		replayed:      m.NewCounter("window_replayed_rows_total"),
		emitted:       m.NewCounter("window_emitted_rows_total"),
		open:          m.NewGauge("window_open_windows"),
		stateBytes:    m.NewGauge("window_state_bytes"),
		watermark:     m.NewGauge("window_watermark_ms"),
		maxEvent:      m.NewGauge("window_max_event_time_ms"),
		lag:           m.NewGauge("window_watermark_lag_seconds"),
		ckptWrites:    m.NewCounter("window_checkpoint_writes_total"),
		ckptLatency:   m.NewTimer("window_checkpoint_latency_ns"),
	}
	// Counters exist from the start at 0, so rate()/increase() alerts see the
	// first late or replayed row. (The reason-labelled one cannot: its labels
	// are only known when a row fails.)
	for _, c := range []*service.MetricCounter{wm.input, wm.late, wm.closedEarly, wm.replayed, wm.emitted,
		wm.ckptWrites, wm.orderWaits, wm.orderTimeouts} {
		c.Incr(0)
	}
	wm.idle.Set(0)
	return wm
}
