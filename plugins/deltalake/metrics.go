package deltalake

import "github.com/redpanda-data/benthos/v4/public/service"

// outputMetrics are the delta_* series of docs/metrics.md.
type outputMetrics struct {
	commits, commitFailures, commitRetries, commitConflicts *service.MetricCounter
	filesWritten, bytesWritten, rowsWritten, rowsSkipped    *service.MetricCounter
	rowsInvalid, sequenceGaps, holesDropped, fenced         *service.MetricCounter
	commitLatency, emitToCommit                             *service.MetricTimer
	tableVersion                                            *service.MetricGauge
}

func newOutputMetrics(m *service.Metrics) *outputMetrics {
	om := &outputMetrics{
		commits:         m.NewCounter("delta_commits_total"),
		commitFailures:  m.NewCounter("delta_commit_failures_total"),
		commitRetries:   m.NewCounter("delta_commit_retries_total"),
		commitConflicts: m.NewCounter("delta_commit_conflicts_total"),
		commitLatency:   m.NewTimer("delta_commit_latency_ns"),
		emitToCommit:    m.NewTimer("delta_emit_to_commit_ns"),
		filesWritten:    m.NewCounter("delta_files_written_total"),
		bytesWritten:    m.NewCounter("delta_bytes_written_total"),
		rowsWritten:     m.NewCounter("delta_rows_written_total"),
		rowsSkipped:     m.NewCounter("delta_rows_skipped_total"),
		rowsInvalid:     m.NewCounter("delta_rows_invalid_total", "reason"),
		sequenceGaps:    m.NewCounter("delta_sequence_gaps_total"),
		holesDropped:    m.NewCounter("delta_sequence_holes_dropped_total"),
		fenced:          m.NewCounter("delta_fenced_total"),
		tableVersion:    m.NewGauge("delta_table_version"),
	}
	// Counters that only move on trouble are exported from the start at 0, so
	// that rate()/increase() alerts see their first increment.
	for _, c := range []*service.MetricCounter{om.commits, om.commitFailures, om.commitRetries,
		om.commitConflicts, om.rowsSkipped, om.sequenceGaps, om.holesDropped, om.fenced} {
		c.Incr(0)
	}
	return om
}
