package engine

import (
	"math"
	"time"
)

// noWatermark marks a watermark that has not been set yet: nothing is late and
// nothing is closed. (Spark starts at 0, which is the same for post-1970 data
// and would wrongly close pre-1970 windows.)
const noWatermark = math.MinInt64

// Mode selects how per-partition event times combine into one watermark.
type Mode string

const (
	// ModePerPartition (the default) is Flink's: a row is late only against
	// its own partition's progress, and windows close when the minimum over
	// all partitions of their max event time − delay passes their end. The
	// result then depends only on each partition's records in offset order,
	// never on how partitions were interleaved or batched.
	ModePerPartition Mode = "per_partition"
	// ModeGlobal is Spark's: max event time over all partitions − delay, for
	// lateness and closing alike. On a backlog its results depend on how
	// fetches of different partitions interleave. Opt-in.
	ModeGlobal Mode = "global"
)

// Emit says when a window the watermark has closed is emitted.
type Emit string

const (
	// EmitAfterBatch advances the watermark at the end of each batch and emits
	// every window it closes at once; a row is late when its window end <= the
	// watermark as it stood before its batch. This is Spark when a no-data
	// batch follows each data batch (a live stream), and never leaves a closed
	// window waiting for more input.
	EmitAfterBatch Emit = "after_batch"
	// EmitNextBatch is Spark while its trigger keeps finding data (a backlog):
	// a batch emits with the watermark left by the batches before it, and late
	// rows are judged by the one before that (the two-watermark rule, Spark's
	// allowMultiple=true). A closed window waits for the next batch.
	EmitNextBatch Emit = "next_batch"
)

// partition is the per-partition watermark input.
type partition struct {
	MaxMs      int64 `json:"max_ms"`       // noWatermark until it delivers a row
	LastSeenMs int64 `json:"last_seen_ms"` // processing time of its last row, or of when it became known
	// Idle is set by a stage-1 marker (StageMerge only): the source
	// partition stopped holding the watermark back until its next marker.
	Idle bool `json:"idle,omitempty"`
	// Marked and MarkOffset (StageMerge only): a marker was applied, and the
	// highest source offset of the markers applied. Stage 1 may send
	// partition r's idle marker in a batch of another partition, unordered
	// against r's next batch: a marker older than one already applied must
	// not set r's idleness back.
	Marked     bool  `json:"marked,omitempty"`
	MarkOffset int64 `json:"mark_offset,omitempty"`
}

// watermark holds the event-time watermark and the values Spark's two-watermark
// rule needs. All values are epoch ms.
type watermark struct {
	Current  int64                 `json:"current"`   // evicts windows in the next batch
	Late     int64                 `json:"late"`      // judges late rows in the next batch
	MaxEvent int64                 `json:"max_event"` // max event time seen, noWatermark if none
	LastData int64                 `json:"last_data"` // processing time of the last data row
	Parts    map[string]*partition `json:"parts,omitempty"`
	// Topics is the partition count of each topic, so partitions that have
	// not delivered yet hold the watermark back (per_partition).
	Topics map[string]int32 `json:"topics,omitempty"`
	// restarted asks the next batch to restart processing-time idleness.
	restarted bool
}

func newWatermark() watermark {
	return watermark{Current: noWatermark, Late: noWatermark, MaxEvent: noWatermark, LastData: noWatermark}
}

// observe records a data row's event time (ms) from a partition at processing time now.
func (w *watermark) observe(part string, eventMs int64, nowMs int64, mode Mode) {
	w.observeIn(w.Parts[part], part, eventMs, nowMs, mode)
}

// observeIn is observe with part's entry p (nil if it has none) looked up by
// the caller; it returns the entry, created if needed.
func (w *watermark) observeIn(p *partition, part string, eventMs int64, nowMs int64, mode Mode) *partition {
	if eventMs > w.MaxEvent {
		w.MaxEvent = eventMs
	}
	w.LastData = nowMs
	if mode != ModePerPartition {
		return p
	}
	if p == nil {
		if w.Parts == nil {
			w.Parts = map[string]*partition{}
		}
		p = &partition{MaxMs: eventMs}
		w.Parts[part] = p
	}
	if eventMs > p.MaxMs {
		p.MaxMs = eventMs
	}
	p.LastSeenMs = nowMs
	return p
}

// expect registers partitions 0..n-1 of a topic that have not delivered yet:
// until they do (or go idle), they hold the per-partition watermark back.
func (w *watermark) expect(topic string, n int32, nowMs int64) {
	if w.Topics == nil {
		w.Topics = map[string]int32{}
	}
	if w.Parts == nil {
		w.Parts = map[string]*partition{}
	}
	for i := w.Topics[topic]; i < n; i++ {
		k := Position{Topic: topic, Partition: i}.Key()
		if w.Parts[k] == nil {
			w.Parts[k] = &partition{MaxMs: noWatermark, LastSeenMs: nowMs}
		}
	}
	w.Topics[topic] = n
}

// watermark is a partition's own watermark (its max event time − delay),
// noWatermark if it has delivered nothing (or p is nil: not known yet).
func (p *partition) watermark(delayMs int64) int64 {
	if p == nil || p.MaxMs == noWatermark {
		return noWatermark
	}
	return p.MaxMs - delayMs
}

// restart makes processing-time idleness count from now after a restore.
func (w *watermark) restart(nowMs int64) {
	for _, p := range w.Parts {
		p.LastSeenMs = nowMs
	}
	if w.LastData != noWatermark {
		w.LastData = nowMs
	}
	w.restarted = false
}

// passive reports whether a partition does not hold the per-partition
// watermark back now: idle by a stage-1 marker or by processing time. A
// partition that never delivered is idle once idle_timeout has passed since
// it became known, never sooner: "nothing to read now" (the input's
// kafka_empty_partitions) says nothing of the records a producer writes
// there next, and a job started before its producers closed its first
// windows on the partitions fetched first and dropped 1.2 % of the rows
// (red team rt21, real broker: all 8 partitions written at once).
func (p *partition) passive(idleMs, nowMs int64) bool {
	return p.Idle || p.idle(idleMs, nowMs)
}

// idle reports whether a partition stopped holding the watermark back.
func (p *partition) idle(idleMs, nowMs int64) bool {
	return idleMs > 0 && nowMs-p.LastSeenMs >= idleMs
}

// Idle counts the partitions that are idle at processing time nowMs.
func (w *watermark) Idle(cfg *Config, nowMs int64) int {
	n := 0
	for _, p := range w.Parts {
		if p.idle(cfg.IdleTimeout.Milliseconds(), nowMs) {
			n++
		}
	}
	return n
}

// endBatch advances the watermark at the end of a batch. The watermark the
// batch evicted with becomes the next batch's late watermark (Spark's
// allowMultiple=true: late rows are judged against the watermark of the batch
// before). The watermark never decreases.
func (w *watermark) endBatch(cfg *Config, nowMs int64) {
	w.Late = w.Current
	cand := int64(noWatermark)
	delay := cfg.Delay.Milliseconds()
	switch cfg.Mode {
	case ModePerPartition:
		// The minimum over partitions that are not idle; a partition that
		// has not delivered yet holds it unset.
		idle := cfg.IdleTimeout.Milliseconds()
		low, any := int64(math.MaxInt64), false
		for _, p := range w.Parts {
			if p.passive(idle, nowMs) {
				continue
			}
			any = true
			low = min(low, p.MaxMs)
		}
		if any && low != noWatermark {
			cand = low - delay
		}
	default:
		if w.MaxEvent != noWatermark {
			cand = w.MaxEvent - delay
		}
	}
	// Processing-time advance: once no data arrived for idle_timeout, event
	// time is taken to move on with the wall clock from the last max.
	if cfg.IdleTimeout > 0 && w.MaxEvent != noWatermark && w.LastData != noWatermark {
		if quiet := nowMs - w.LastData; quiet >= cfg.IdleTimeout.Milliseconds() {
			if c := w.MaxEvent - delay + quiet; c > cand {
				cand = c
			}
		}
	}
	if cand != noWatermark && cand > w.Current {
		w.Current = cand
	}
}

func msOf(t time.Time) int64 { return t.UnixMilli() }
