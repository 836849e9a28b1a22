package progress

// The JSON shapes follow Spark's StreamingQueryProgress where a field has a
// direct equivalent (same names, same units); fields Spark does not have are
// named in the same camelCase style. Every event carries "event".

// Started is emitted once when the stream starts.
type Started struct {
	Event     string `json:"event"` // "started"
	ID        string `json:"id"`
	RunID     string `json:"runId"`
	Name      string `json:"name"`
	Timestamp string `json:"timestamp"`
}

// Terminated is emitted once when the stream stops.
type Terminated struct {
	Event     string  `json:"event"` // "terminated"
	ID        string  `json:"id"`
	RunID     string  `json:"runId"`
	Name      string  `json:"name"`
	Timestamp string  `json:"timestamp"`
	Exception *string `json:"exception"`
}

// Progress is emitted every interval.
type Progress struct {
	Event                  string           `json:"event"` // "progress"
	ID                     string           `json:"id"`
	RunID                  string           `json:"runId"`
	Name                   string           `json:"name"`
	Timestamp              string           `json:"timestamp"`
	BatchID                int64            `json:"batchId"`
	NumInputRows           int64            `json:"numInputRows"`
	InputRowsPerSecond     float64          `json:"inputRowsPerSecond"`
	ProcessedRowsPerSecond float64          `json:"processedRowsPerSecond"`
	DurationMs             map[string]int64 `json:"durationMs"`
	EventTime              *EventTime       `json:"eventTime,omitempty"`
	StateOperators         []StateOperator  `json:"stateOperators"`
	Sources                []Source         `json:"sources"`
	Sink                   *Sink            `json:"sink,omitempty"`
	// Outputs that can fail to deliver (kafka_franz, delta_lake), by label.
	Outputs []Output `json:"outputs,omitempty"`
	// Scale-out (docs/scale-out.md, "Operating"): the partitions this
	// replica owns, and what each stage holds for them.
	Assignment []Assignment `json:"assignment,omitempty"`
	Stages     *Stages      `json:"stages,omitempty"`
}

// Output is one output's delivery state (output_failing_seconds,
// output_delivery_failures_total).
type Output struct {
	Label          string  `json:"label"`
	FailingSeconds float64 `json:"failingSeconds"` // 0 while delivering
	FailedWrites   int64   `json:"failedWrites"`   // since the previous event
}

// EventTime holds the event-time watermark and the latest event time seen,
// as ISO-8601 UTC with milliseconds (Spark's format).
type EventTime struct {
	Watermark string `json:"watermark,omitempty"`
	Max       string `json:"max,omitempty"`
}

// StateOperator describes the window state.
type StateOperator struct {
	OperatorName              string `json:"operatorName"`
	NumRowsTotal              int64  `json:"numRowsTotal"`
	NumRowsUpdated            int64  `json:"numRowsUpdated"`
	NumRowsDroppedByWatermark int64  `json:"numRowsDroppedByWatermark"`
	NumRowsEmitted            int64  `json:"numRowsEmitted"`
	MemoryUsedBytes           int64  `json:"memoryUsedBytes"`
}

// Source describes the Kafka input.
type Source struct {
	Description        string             `json:"description"`
	NumInputRows       int64              `json:"numInputRows"`
	InputRowsPerSecond float64            `json:"inputRowsPerSecond"`
	Metrics            map[string]float64 `json:"metrics"`
}

// Sink describes the Delta table.
type Sink struct {
	Description   string `json:"description"`
	NumOutputRows int64  `json:"numOutputRows"`
	Version       int64  `json:"version"`
	Commits       int64  `json:"commits"`
	FailedCommits int64  `json:"failedCommits"`
}
