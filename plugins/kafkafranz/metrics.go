package kafkafranz

import (
	"strconv"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// inputMetrics implements franz.ConsumerMetrics and franz.AssignmentMetrics
// with the names of docs/metrics.md.
type inputMetrics struct {
	records, bytes, resets *service.MetricCounter
	commits                *service.MetricCounter
	revoked                *service.MetricCounter
	txns                   *service.MetricCounter
	purges                 *service.MetricCounter
	lag, paused            *service.MetricGauge
	assigned               *service.MetricGauge
	dataLossStop           *service.MetricGauge
}

var (
	_ franz.AssignmentMetrics = (*inputMetrics)(nil)
	_ franz.PurgeMetrics      = (*inputMetrics)(nil)
)

func newInputMetrics(m *service.Metrics) *inputMetrics {
	im := &inputMetrics{
		records:      m.NewCounter("kafka_input_records_total", "topic", "partition"),
		bytes:        m.NewCounter("kafka_input_bytes_total", "topic", "partition"),
		resets:       m.NewCounter("kafka_input_offset_resets_total", "topic", "partition"),
		commits:      m.NewCounter("kafka_input_commits_total"),
		revoked:      m.NewCounter("kafka_input_revoked_dropped_total", "topic", "partition"),
		txns:         m.NewCounter("kafka_input_transactions_total", "outcome"),
		purges:       m.NewCounter("kafka_input_purges_total", "topic", "partition", "outcome"),
		lag:          m.NewGauge("kafka_input_lag", "topic", "partition"),
		assigned:     m.NewGauge("kafka_input_partition_assigned", "topic", "partition"),
		paused:       m.NewGauge("kafka_input_paused_partitions"),
		dataLossStop: m.NewGauge("kafka_input_stopped_on_data_loss"),
	}
	// Series that only move on trouble exist from the start, at 0, so alerts
	// see their first change.
	im.commits.Incr(0)
	im.paused.Set(0)
	im.dataLossStop.Set(0)
	return im
}

func (m *inputMetrics) Fetched(topic string, partition int32, records, bytes int) {
	p := strconv.Itoa(int(partition))
	m.records.Incr(int64(records), topic, p)
	m.bytes.Incr(int64(bytes), topic, p)
}

func (m *inputMetrics) Lag(topic string, partition int32, lag int64) {
	m.lag.Set(lag, topic, strconv.Itoa(int(partition)))
}

// Assignment (franz.AssignmentMetrics) keeps one 0/1 series per partition
// of the group's topics, so each replica shows what it owns; bounded by the
// partition count. A partition that leaves gets lag 0: its last lag would
// otherwise stay here forever, and its new owner reports the real one.
func (m *inputMetrics) Assignment(topic string, partition int32, owned bool) {
	p := strconv.Itoa(int(partition))
	if owned {
		m.assigned.Set(1, topic, p)
		return
	}
	m.assigned.Set(0, topic, p)
	m.lag.Set(0, topic, p)
}

func (m *inputMetrics) PausedPartitions(n int) { m.paused.Set(int64(n)) }

func (m *inputMetrics) Committed() { m.commits.Incr(1) }

func (m *inputMetrics) OffsetReset(topic string, partition int32) {
	m.resets.Incr(1, topic, strconv.Itoa(int(partition)))
}

// revokedDropped counts records fetched for a partition that was revoked
// before they were handed downstream (the new owner reads them instead).
func (m *inputMetrics) revokedDropped(topic string, partition int32, n int) {
	m.revoked.Incr(int64(n), topic, strconv.Itoa(int(partition)))
}

// stoppedOnDataLoss sets the gauge an alert can fire on (1 = this input
// stopped because of fail_on_data_loss).
func (m *inputMetrics) stoppedOnDataLoss() { m.dataLossStop.Set(1) }

// Purged (franz.PurgeMetrics) counts purge_committed's DeleteRecords per
// partition: outcome deleted or error.
func (m *inputMetrics) Purged(topic string, partition int32, err error) {
	outcome := "deleted"
	if err != nil {
		outcome = "error"
	}
	m.purges.Incr(1, topic, strconv.Itoa(int(partition)), outcome)
}

// txnEnded counts transactions by outcome: committed, aborted, error.
func (m *inputMetrics) txnEnded(outcome string) { m.txns.Incr(1, outcome) }

func (m *inputMetrics) committed() { m.commits.Incr(1) }
