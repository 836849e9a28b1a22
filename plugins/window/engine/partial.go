package engine

import (
	"fmt"
	"sort"
	"time"
)

// Partial is the exact aggregate state of one (window, group key) folded
// from the on-time rows of one stage-1 batch: stage 2 merges partials of the
// same (window, key) exactly, so the result does not depend on how rows were
// split over batches, replicas or merge order. It is serialisable as JSON
// with no loss (sums as Shewchuk partials, floats in shortest round-trip
// form, -0 kept).
type Partial struct {
	StartUs int64  `json:"start_us"`
	Key     string `json:"key"`
	Rows    int64  `json:"rows"`
	Aggs    []acc  `json:"aggs"`
	// Config is the StageFingerprint of the stage 1 that wrote it
	// (stage_config.go).
	Config string `json:"config,omitempty"`
}

// Marker is the progress of one source partition as stage 1 saw it: stage 2
// takes the minimum over every source partition of MaxMs − delay as its
// watermark. It is also the stage-1 state of that partition (the changelog
// value): its max event time as of Offset.
type Marker struct {
	Topic      string `json:"topic"`
	Partition  int32  `json:"partition"`
	Partitions int32  `json:"partitions"` // of Topic, 0 if unknown
	MaxMs      int64  `json:"max_ms"`     // max event time seen, every row (late ones too)
	Offset     int64  `json:"offset"`     // last offset observed
	// Idle: no data for the idle timeout; stage 2 leaves the partition out
	// of its minimum until the next marker.
	Idle bool `json:"idle,omitempty"`
	// Empty (with Idle, MaxMs noWatermark, Offset -1): the partition's owner
	// read it to its end without a record since its assignment
	// (AnnounceEmpty). Stage 2 takes it only for a partition it has seen no
	// progress of; a later marker of the partition (offset >= 0) ends it.
	Empty bool `json:"empty,omitempty"`
}

// PartialResult is the outcome of one stage-1 batch.
type PartialResult struct {
	Status          []Status
	LateWindowEndUs map[int]int64
	// Partials sorted by (window start, key); Markers by (topic, partition),
	// one per source partition that delivered in the batch, went idle or
	// was announced empty.
	Partials []Partial
	Markers  []Marker
	// Advanced[i] says Markers[i] moved its partition's watermark (max −
	// delay) past a window end, or changed its idleness: only such a marker
	// can let stage 2 close a window, so it is worth committing at once.
	Advanced []bool
}

type source struct {
	m          Marker
	lastSeenMs int64 // processing time of its last row or load
}

// PartialEngine is stage 1: per source partition, the lateness rule of the
// full engine (a row is late iff its window end <= its own partition's max
// event time before it − delay); on-time rows folded into partials per
// batch. It keeps no window state across batches, only each partition's
// Marker, which the caller persists with the batch's output (the changelog)
// and loads back when a partition is (re)assigned. Not goroutine-safe.
type PartialEngine struct {
	cfg      Config
	sizeUs   int64
	offsetUs int64
	parts    map[string]*source // topic/partition
	keys     PartitionKeys      // Position.Key without an allocation per row
	config   string             // cfg.StageFingerprint(), stamped on every partial
}

// NewPartial builds a stage-1 engine; cfg.Stage must be StagePartial.
func NewPartial(cfg Config) (*PartialEngine, error) {
	if cfg.Stage != StagePartial {
		return nil, fmt.Errorf("NewPartial needs stage partial, got %q", cfg.Stage)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &PartialEngine{cfg: cfg, sizeUs: cfg.Size.Microseconds(), offsetUs: cfg.Offset.Microseconds(), parts: map[string]*source{},
		config: cfg.StageFingerprint()}, nil
}

// Load replaces a partition's state with m (its changelog value), at
// processing time now; nil forgets the partition (no changelog value: it
// starts afresh).
func (e *PartialEngine) Load(topic string, partition int32, m *Marker, now time.Time) {
	k := Position{Topic: topic, Partition: partition}.Key()
	if m == nil {
		delete(e.parts, k)
		return
	}
	c := *m
	c.Topic, c.Partition = topic, partition
	e.parts[k] = &source{m: c, lastSeenMs: msOf(now)}
}

// Forget drops the state of every partition for which keep is false, as
// Load(nil) does, and returns how many it dropped.
func (e *PartialEngine) Forget(keep func(topic string, partition int32) bool) int {
	n := 0
	for k, s := range e.parts {
		if !keep(s.m.Topic, s.m.Partition) {
			delete(e.parts, k)
			n++
		}
	}
	return n
}

// Cover records that partition delivered up to offset records that reached
// no row (dead letters: every record that failed before or in the window):
// its state covers them, as the input commits their offsets. It returns the
// partition's state and whether offset moved it; a partition unknown so far
// starts with no event time. Replays are Process's rule: a row at or below
// the covered offset is Replayed.
func (e *PartialEngine) Cover(topic string, partition, partitions int32, offset int64) (Marker, bool) {
	k := Position{Topic: topic, Partition: partition}.Key()
	s := e.parts[k]
	if s == nil {
		s = &source{m: Marker{Topic: topic, Partition: partition, MaxMs: noWatermark, Offset: -1}}
		e.parts[k] = s
	}
	if partitions > s.m.Partitions {
		s.m.Partitions = partitions
	}
	if offset <= s.m.Offset {
		return s.m, false
	}
	s.m.Offset = offset
	return s.m, true
}

// Source returns a partition's state and whether it has any.
func (e *PartialEngine) Source(topic string, partition int32) (Marker, bool) {
	s := e.parts[Position{Topic: topic, Partition: partition}.Key()]
	if s == nil {
		return Marker{}, false
	}
	return s.m, true
}

// Process runs one batch. Rows must carry their position (HasPos); a row at
// or below its partition's state offset is Replayed (its effect is already
// in the state, so its output was committed with it).
func (e *PartialEngine) Process(rows []Row, now time.Time) PartialResult {
	nowMs := msOf(now)
	delayMs := e.cfg.Delay.Milliseconds()
	res := PartialResult{Status: make([]Status, len(rows))}
	groups := map[int64]map[string]*group{}
	touched := map[*source]bool{}
	before := map[*source]Marker{} // a touched source's marker before the batch
	for i := range rows {
		r := &rows[i]
		if r.Heartbeat {
			res.Status[i] = Tick
			continue
		}
		k := e.keys.Of(r.Pos)
		s := e.parts[k]
		if s == nil {
			s = &source{m: Marker{Topic: r.Pos.Topic, Partition: r.Pos.Partition, MaxMs: noWatermark, Offset: -1}}
			e.parts[k] = s
		}
		if r.Pos.Offset <= s.m.Offset {
			res.Status[i] = Replayed
			continue
		}
		if !touched[s] {
			before[s] = s.m
		}
		start := windowStart(r.TimeUs, e.sizeUs, e.offsetUs)
		end := start + e.sizeUs
		late := observeRow(&s.m, r, end, delayMs)
		s.lastSeenMs = nowMs
		touched[s] = true
		if late {
			res.Status[i] = Late
			if res.LateWindowEndUs == nil {
				res.LateWindowEndUs = map[int]int64{}
			}
			res.LateWindowEndUs[i] = end
			continue
		}
		foldRow(groups, start, r, e.cfg.Aggregates)
		res.Status[i] = Applied
	}
	// Idleness is processing time (opt-in, the one timing-dependent knob):
	// a partition quiet for the idle timeout is announced once as idle.
	if idle := e.cfg.IdleTimeout.Milliseconds(); idle > 0 {
		for _, s := range e.parts {
			if !touched[s] && !s.m.Idle && s.m.MaxMs != noWatermark && nowMs-s.lastSeenMs >= idle {
				before[s] = s.m
				s.m.Idle = true
				touched[s] = true
			}
		}
	}
	empties := e.empties(rows)
	for start, keys := range groups {
		for k, g := range keys {
			res.Partials = append(res.Partials, Partial{StartUs: start, Key: k, Rows: g.Rows, Aggs: g.Aggs, Config: e.config})
		}
	}
	sort.Slice(res.Partials, func(i, j int) bool {
		a, b := &res.Partials[i], &res.Partials[j]
		return a.StartUs < b.StartUs || (a.StartUs == b.StartUs && a.Key < b.Key)
	})
	type out struct {
		m   Marker
		adv bool
	}
	outs := make([]out, 0, len(touched)+len(empties))
	for s := range touched {
		prev := before[s]
		outs = append(outs, out{s.m, prev.Idle != s.m.Idle || e.closedEnd(s.m) > e.closedEnd(prev)})
	}
	for _, m := range empties {
		outs = append(outs, out{m, true}) // it may let stage 2 close windows at once
	}
	sort.Slice(outs, func(i, j int) bool {
		a, b := &outs[i].m, &outs[j].m
		return a.Topic < b.Topic || (a.Topic == b.Topic && a.Partition < b.Partition)
	})
	for _, o := range outs {
		res.Markers = append(res.Markers, o.m)
		res.Advanced = append(res.Advanced, o.adv)
	}
	return res
}

// empties are the markers announcing the partitions that heartbeat rows
// name in Row.Empty (kafka_franz's empty-partition notices: the owner read
// the partition to its end without a record since its assignment), so
// stage 2 does not wait for partitions that never receive a record. Not
// announced: a partition whose progress this engine holds (it delivered,
// here or before: stage 2 has its progress and would ignore it).
// Nothing is remembered: each notice (one per assignment epoch) is
// announced, so an announcement lost with an aborted transaction is made
// again after the rewind's new epoch. With idle_timeout 0 (exact tables)
// nothing is announced, as stage full ignores empty partitions then: "nothing
// to read now" is processing-time idleness, and a partition filled after the
// others would have its first windows closed on theirs.
func (e *PartialEngine) empties(rows []Row) []Marker {
	if e.cfg.IdleTimeout <= 0 {
		return nil
	}
	var out []Marker
	var seen map[Position]bool
	for i := range rows {
		r := &rows[i]
		if !r.Heartbeat || r.Partitions <= 0 {
			continue
		}
		for _, p := range r.Empty {
			pos := Position{Topic: r.Pos.Topic, Partition: p}
			if p < 0 || p >= r.Partitions || seen[pos] {
				continue
			}
			if seen == nil {
				seen = map[Position]bool{}
			}
			seen[pos] = true
			if s := e.parts[pos.Key()]; s != nil && s.m.MaxMs != noWatermark {
				continue
			}
			out = append(out, AnnounceEmpty(r.Pos.Topic, p, r.Partitions))
		}
	}
	return out
}

// AnnounceEmpty is the marker saying that partition of topic (partitions
// in all) has nothing to read and delivered nothing since its owner got it.
func AnnounceEmpty(topic string, partition, partitions int32) Marker {
	return Marker{Topic: topic, Partition: partition, Partitions: partitions, MaxMs: noWatermark, Offset: -1, Idle: true, Empty: true}
}

// closedEnd is the latest window end a marker's watermark (max − delay) has
// passed, noWatermark without one.
func (e *PartialEngine) closedEnd(m Marker) int64 {
	if m.MaxMs == noWatermark {
		return noWatermark
	}
	return windowStart((m.MaxMs-e.cfg.Delay.Milliseconds())*1000, e.sizeUs, e.offsetUs)
}
