package progress

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Metric names read from the snapshot (docs/metrics.md; timers are exported
// in seconds by the exporter).
const (
	mInput          = "input_received"
	mProcLatency    = "processor_latency_seconds"
	mOutLatency     = "output_latency_seconds"
	mKafkaRecords   = "kafka_input_records_total"
	mKafkaLag       = "kafka_input_lag"
	mKafkaPaused    = "kafka_input_paused_partitions"
	mWinRows        = "window_input_rows_total"
	mWinLate        = "window_late_rows_total"
	mWinEmitted     = "window_emitted_rows_total"
	mWinOpen        = "window_open_windows"
	mWinStateBytes  = "window_state_bytes"
	mWinWatermark   = "window_watermark_ms"
	mWinMaxEvent    = "window_max_event_time_ms"
	mWinCkptLatency = "window_checkpoint_latency_seconds"
	mDeltaRows      = "delta_rows_written_total"
	mDeltaVersion   = "delta_table_version"
	mDeltaCommits   = "delta_commits_total"
	mDeltaFailures  = "delta_commit_failures_total"
	mDeltaLatency   = "delta_commit_latency_seconds"
	mOutFailing     = "output_failing_seconds"
	mOutFailures    = "output_delivery_failures_total"
)

// Config configures a Reporter.
type Config struct {
	// Name of the query (Spark's queryName). Its id is derived from it, so
	// it is stable across restarts, like Spark's checkpointed id.
	Name string
	// RunID identifies this run; a random UUID when empty.
	RunID string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Reporter turns successive snapshots into events. Safe for concurrent use.
type Reporter struct {
	id, runID, name string
	now             func() time.Time

	mu      sync.Mutex
	batchID int64
	prev    Snapshot
	prevAt  time.Time
}

// queryNamespace scopes the name-derived query ids.
var queryNamespace = uuid.MustParse("6f1c9a52-3b1e-4f4e-9a55-2f2d7f0c9e11")

// NewReporter builds a reporter.
func NewReporter(c Config) *Reporter {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RunID == "" {
		c.RunID = uuid.NewString()
	}
	return &Reporter{
		id:    uuid.NewSHA1(queryNamespace, []byte(c.Name)).String(),
		runID: c.RunID,
		name:  c.Name,
		now:   c.Now,
	}
}

// Started records the baseline the first progress event is measured from.
func (r *Reporter) Started(s Snapshot) Started {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.prev, r.prevAt = s, now
	return Started{Event: "started", ID: r.id, RunID: r.runID, Name: r.name, Timestamp: stamp(now)}
}

// Terminated reports the end of the run; errMsg is empty for a clean stop.
func (r *Reporter) Terminated(errMsg string) Terminated {
	t := Terminated{Event: "terminated", ID: r.id, RunID: r.runID, Name: r.name, Timestamp: stamp(r.now())}
	if errMsg != "" {
		t.Exception = &errMsg
	}
	return t
}

// Progress reports what happened since the previous progress (or Started).
func (r *Reporter) Progress(s Snapshot) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	prev, elapsed := r.prev, 0.0
	if !r.prevAt.IsZero() && now.After(r.prevAt) {
		elapsed = now.Sub(r.prevAt).Seconds()
	}
	d := func(name string) float64 { return delta(prev[name].Sum, s[name].Sum) }
	dt := func(name string) float64 { return delta(prev[name].Total, s[name].Total) }

	rows := d(mInput)
	// Busy time of the processors and the output: Spark divides the rows
	// by the batch's processing time, so processed > input means the job
	// keeps up. Summed over threads, so it can exceed the wall time.
	busy := dt(mProcLatency) + dt(mOutLatency)
	p := Progress{
		Event: "progress", ID: r.id, RunID: r.runID, Name: r.name,
		Timestamp:          stamp(now),
		BatchID:            r.batchID,
		NumInputRows:       int64(rows),
		InputRowsPerSecond: rate(rows, elapsed),
		DurationMs: map[string]int64{
			"triggerExecution": ms(elapsed),
			"processing":       ms(busy),
		},
		StateOperators: []StateOperator{},
		Sources:        []Source{},
	}
	if busy > 0 {
		p.ProcessedRowsPerSecond = rate(rows, busy)
	} else {
		p.ProcessedRowsPerSecond = rate(rows, elapsed)
	}
	if s.has(mDeltaLatency) {
		p.DurationMs["deltaCommit"] = ms(dt(mDeltaLatency))
	}
	if s.has(mWinCkptLatency) {
		p.DurationMs["stateCheckpoint"] = ms(dt(mWinCkptLatency))
	}
	if s.has(mWinWatermark, mWinMaxEvent) {
		p.EventTime = &EventTime{Watermark: epochMs(s[mWinWatermark].Max), Max: epochMs(s[mWinMaxEvent].Max)}
	}
	if s.has(mWinRows, mWinOpen, mWinLate, mWinEmitted) {
		p.StateOperators = append(p.StateOperators, StateOperator{
			OperatorName:              "tumbling_window",
			NumRowsTotal:              int64(s[mWinOpen].Sum),
			NumRowsUpdated:            int64(d(mWinRows)),
			NumRowsDroppedByWatermark: int64(d(mWinLate)),
			NumRowsEmitted:            int64(d(mWinEmitted)),
			MemoryUsedBytes:           int64(s[mWinStateBytes].Sum),
		})
	}
	if s.has(mKafkaRecords, mKafkaLag) {
		n := d(mKafkaRecords)
		p.Sources = append(p.Sources, Source{
			Description:        "kafka_franz",
			NumInputRows:       int64(n),
			InputRowsPerSecond: rate(n, elapsed),
			Metrics: map[string]float64{
				"offsetsBehindLatest":    s[mKafkaLag].Sum,
				"maxOffsetsBehindLatest": s[mKafkaLag].Max,
				"pausedPartitions":       s[mKafkaPaused].Sum,
			},
		})
	}
	if s.has(mDeltaVersion, mDeltaCommits, mDeltaRows) {
		p.Sink = &Sink{
			Description:   "delta_lake",
			NumOutputRows: int64(d(mDeltaRows)),
			Version:       int64(s[mDeltaVersion].Max),
			Commits:       int64(d(mDeltaCommits)),
			FailedCommits: int64(d(mDeltaFailures)),
		}
	}
	if s.has(mOutFailing) {
		labels := make([]string, 0, len(s[mOutFailing].ByLabel))
		for l := range s[mOutFailing].ByLabel {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		for _, l := range labels {
			p.Outputs = append(p.Outputs, Output{
				Label:          l,
				FailingSeconds: math.Round(s[mOutFailing].ByLabel[l]*1000) / 1000,
				FailedWrites:   int64(delta(prev[mOutFailures].ByLabel[l], s[mOutFailures].ByLabel[l])),
			})
		}
	}
	p.Assignment, p.Stages = scaleOut(s)
	r.batchID++
	r.prev, r.prevAt = s, now
	return p
}

// delta of a counter; a counter that went down was reset, so all of cur is new.
func delta(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

func rate(n, seconds float64) float64 {
	if seconds <= 0 || n == 0 {
		return 0
	}
	return math.Round(n/seconds*1000) / 1000
}

func ms(seconds float64) int64 { return int64(math.Round(seconds * 1000)) }

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// epochMs formats an epoch-millisecond gauge; 0 means "not known yet".
func epochMs(v float64) string {
	if v <= 0 {
		return ""
	}
	return stamp(time.UnixMilli(int64(v)))
}
