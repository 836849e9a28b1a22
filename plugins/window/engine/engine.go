// Package engine is the pure event-time tumbling-window engine behind the
// tumbling_window processor: window assignment, the watermark (with Spark's
// two-watermark rule), late rows, append-mode emission, per-partition replay
// detection and the state snapshot. It does not import Benthos; time comes from
// the caller, so tests move it by hand.
//
// An Engine is not goroutine-safe; the processor serialises calls.
package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Config is the engine's plain configuration.
type Config struct {
	Size        time.Duration // window length, a whole number of ms
	Offset      time.Duration // shifts window starts from the epoch, 0 <= Offset < Size
	Delay       time.Duration // watermark delay
	Mode        Mode
	Emit        Emit          // when a closed window is emitted; "" = EmitAfterBatch
	IdleTimeout time.Duration // 0 = off (Spark)
	GroupNames  []string      // output names of the group keys, in key order
	Aggregates  []AggSpec
	// RetainEmissions is how many recent emissions are kept for re-emission.
	RetainEmissions int
	// Stage is the part of a two-stage (scaled-out) job this engine runs;
	// "" = StageFull, the whole window in one process (see stage.go).
	Stage Stage
}

// Validate checks the config and names the offending field.
func (c *Config) Validate() error {
	switch {
	case c.Size <= 0 || c.Size%time.Millisecond != 0:
		return fmt.Errorf("size %v must be a positive whole number of milliseconds", c.Size)
	case c.Offset < 0 || c.Offset >= c.Size || c.Offset%time.Millisecond != 0:
		return fmt.Errorf("offset %v must be whole milliseconds, >= 0 and < size (%v)", c.Offset, c.Size)
	case c.Delay < 0 || c.Delay%time.Millisecond != 0:
		return fmt.Errorf("watermark.delay %v must be whole milliseconds and >= 0", c.Delay)
	case c.Mode != ModeGlobal && c.Mode != ModePerPartition:
		return fmt.Errorf("watermark.mode %q must be global or per_partition", c.Mode)
	case c.Emit != "" && c.Emit != EmitAfterBatch && c.Emit != EmitNextBatch:
		return fmt.Errorf("watermark.emit %q must be after_batch or next_batch", c.Emit)
	case c.IdleTimeout < 0:
		return fmt.Errorf("watermark.idle_timeout %v must be >= 0", c.IdleTimeout)
	case len(c.GroupNames) == 0:
		return errors.New("group_by must name at least one key")
	case len(c.Aggregates) == 0:
		return errors.New("aggregates must name at least one aggregate")
	case c.RetainEmissions < 1:
		return fmt.Errorf("state.retain_emissions %d must be >= 1", c.RetainEmissions)
	}
	if err := c.validateStage(); err != nil {
		return err
	}
	names := map[string]string{"window_start": "reserved", "window_end": "reserved"}
	for _, n := range c.GroupNames {
		if names[n] != "" {
			return fmt.Errorf("group_by name %q is %s", n, names[n])
		}
		names[n] = "already used"
	}
	for _, a := range c.Aggregates {
		if names[a.Name] != "" {
			return fmt.Errorf("aggregates name %q is %s", a.Name, names[a.Name])
		}
		names[a.Name] = "already used"
		if a.Op != OpCount && !a.HasValue {
			return fmt.Errorf("aggregates.%s: op %s needs a value", a.Name, a.Op)
		}
	}
	return nil
}

// Position is where a row came from in a partitioned log (Kafka).
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Key is "<topic>/<partition>"; built without fmt, as it runs per row.
func (p Position) Key() string { return p.Topic + "/" + strconv.Itoa(int(p.Partition)) }

// Row is one input of a batch. Invalid rows (bad time or key) never reach the
// engine: the processor errors them first.
type Row struct {
	Heartbeat bool    // a clock tick: carries no data
	TimeUs    int64   // event time, epoch µs
	Key       string  // canonical group key, see EncodeKey
	Values    []Value // one per aggregate (ignored for a row count)
	Pos       Position
	HasPos    bool
	// Partitions is the number of partitions of Pos.Topic when known (0 if
	// not): with per_partition, those that have not delivered yet hold the
	// watermark back, so a window does not close before a slow partition's
	// first records are seen.
	Partitions int32
	// Empty lists partitions of Pos.Topic that had nothing to read when
	// this row was fetched and have delivered nothing yet (kafka_franz
	// kafka_empty_partitions, on a notice row): stage 1 of a scaled-out job
	// announces them to stage 2 (PartialEngine.empties); stage full waits
	// idle_timeout for them like for any partition (partition.passive).
	Empty []int32
}

// Status is what happened to one row.
type Status uint8

const (
	Applied  Status = iota // aggregated
	Late                   // its window had closed (end <= late watermark)
	Replayed               // its offset was already applied
	Tick                   // a heartbeat
	// ClosedEarly is a row dropped because its window was emitted before its
	// own partition's progress closed it: the partition was idle or unknown
	// when the window closed. Only per_partition; a non-zero count means the
	// idle timeout changed the result.
	ClosedEarly
)

// Result is the outcome of one batch.
type Result struct {
	Status []Status
	// Emissions to send, oldest first: re-emissions of retained ones (same
	// identity) followed by this batch's new emission, if any.
	Emissions []*Emission
	// New is this batch's new emission or nil.
	New *Emission
	// LateWindowEndUs holds, for each Late row, its window end (µs).
	LateWindowEndUs map[int]int64
}

// Engine is the window state machine.
type Engine struct {
	cfg      Config
	sizeUs   int64
	offsetUs int64

	wm      watermark
	open    map[int64]map[string]*group // window start µs → key → partial aggregates
	nOpen   int
	applied map[string]appliedOffsets // topic/partition → applied offsets
	covers  map[string]int64          // topic/partition → offset of the input's commit the state covers (covers.go)
	seq     int64                     // last emission sequence used
	pending []*Emission               // most recent emissions, oldest first
	// reemitAll asks the next batch to re-emit every retained emission: set
	// after a restore, because their delivery is not known.
	reemitAll bool
	// keys caches the rows' partition keys (not state).
	keys PartitionKeys
	// runBuf is Process's partRuns array, kept between batches (not state).
	runBuf []partRun
	// Snapshot's caches (not state): the shape's JSON, the encoded pending
	// emissions (nil: re-encode) and each of them, and the last snapshot's
	// length.
	shapeJS      []byte
	pendingBin   []byte
	pendingEnc   [][]byte         // e.pending[i] encoded (nil: not yet), always as long as e.pending
	openEnc      map[int64][]byte // e.open[start] encoded, while unchanged
	lastSnapshot int
	fingerprint  string // cfg.StageFingerprint(): stage merge checks partials against it
	// local is stage merge's progress of each source partition of a local
	// stage 1 (local_merge.go), by Position.Key.
	local map[string]*localSource
}

// New builds an engine with empty state.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Stage == StagePartial {
		return nil, errors.New("stage partial runs in a PartialEngine (NewPartial)")
	}
	if cfg.Stage == StageLocal {
		return nil, errors.New("stage local runs in a LocalEngine (NewLocal)")
	}
	if cfg.Stage == StageMerge {
		cfg.IdleTimeout = 0 // idleness is decided by stage 1 and comes in its markers
	}
	return &Engine{
		cfg:         cfg,
		sizeUs:      cfg.Size.Microseconds(),
		offsetUs:    cfg.Offset.Microseconds(),
		wm:          newWatermark(),
		open:        map[int64]map[string]*group{},
		applied:     map[string]appliedOffsets{},
		covers:      map[string]int64{},
		fingerprint: cfg.StageFingerprint(),
	}, nil
}

// Process runs one batch at processing time now: it judges and aggregates the
// rows, advances the watermark and emits every open (window, key) whose end <=
// it (EmitNextBatch: emits with the watermark as it stood before the batch,
// then advances). See docs/window.md for the rules.
func (e *Engine) Process(rows []Row, now time.Time) Result {
	nowMs := msOf(now)
	if e.wm.restarted {
		e.wm.restart(nowMs)
	}
	afterBatch := e.cfg.Emit != EmitNextBatch
	perPart := e.cfg.Mode == ModePerPartition
	delayMs := e.cfg.Delay.Milliseconds()
	// lateWM is the watermark every window up to which has been emitted: a
	// row for one of them cannot be counted any more.
	lateWM := e.wm.Late
	if afterBatch {
		// Windows up to the current watermark were emitted at the end of the
		// previous batch.
		lateWM = e.wm.Current
	}
	res := Result{Status: make([]Status, len(rows))}
	reemit := e.takeReemitAll()
	runs := partRuns{runs: e.runBuf[:0]}
	var cur groupCursor
	for i := range rows {
		r := &rows[i]
		if r.Heartbeat {
			res.Status[i] = Tick
			continue
		}
		var part string
		if r.HasPos {
			part = e.keys.Of(r.Pos)
		}
		run := e.enter(&runs, part, r.Pos.Topic, perPart)
		if r.HasPos {
			if run.applied.contains(r.Pos.Offset) {
				res.Status[i] = Replayed
				e.markReemit(part, r.Pos.Offset, reemit)
				continue
			}
			if perPart && r.Partitions > run.topicN {
				// The topic grew: every run's view of it is stale.
				e.wm.expect(r.Pos.Topic, r.Partitions, nowMs)
				e.leaveAll(&runs)
				run = e.enter(&runs, part, r.Pos.Topic, perPart)
			}
		}
		start := windowStart(r.TimeUs, e.sizeUs, e.offsetUs)
		end := start + e.sizeUs
		// per_partition: late against the row's own partition's progress
		// before it, which depends on that partition's records alone.
		ownLate := perPart && closedBy(end, run.p.watermark(delayMs))
		emitted := closedBy(end, lateWM)
		// Every row, late or not, is progress of its partition.
		run.p = e.wm.observeIn(run.p, part, microsToWatermarkMs(r.TimeUs), nowMs, e.cfg.Mode)
		if ownLate || emitted {
			res.Status[i] = Late
			if perPart && !ownLate {
				res.Status[i] = ClosedEarly
			}
			if res.LateWindowEndUs == nil {
				res.LateWindowEndUs = map[int]int64{}
			}
			res.LateWindowEndUs[i] = end
			continue // not marked applied: a replay is judged late again
		}
		e.apply(e.group(&cur, start, r.Key), r)
		if r.HasPos {
			run.applied, run.dirty = run.applied.add(r.Pos.Offset), true
		}
		res.Status[i] = Applied
	}
	e.leaveAll(&runs)
	e.runBuf = runs.runs[:0]
	for _, em := range e.pending {
		if reemit[em.Seq] {
			res.Emissions = append(res.Emissions, em)
		}
	}
	if afterBatch {
		e.wm.endBatch(&e.cfg, nowMs)
	}
	if em := e.evict(e.wm.Current); em != nil {
		res.New = em
		e.remember(em, e.triggerOfRows(rows))
		res.Emissions = append(res.Emissions, em)
	}
	if !afterBatch {
		e.wm.endBatch(&e.cfg, nowMs)
	}
	return res
}

func (e *Engine) markReemit(part string, off int64, reemit map[int64]bool) {
	for _, em := range e.pending {
		if t, ok := em.Trigger[part]; ok && t.Lo <= off && off <= t.Hi {
			reemit[em.Seq] = true
		}
	}
}

func (e *Engine) apply(g *group, r *Row) {
	g.Rows++
	for j, spec := range e.cfg.Aggregates {
		if spec.HasValue && j < len(r.Values) {
			g.Aggs[j].add(r.Values[j])
		}
	}
}

// evict removes and returns, as one emission, every open group whose window
// end <= wmMs; nil if there is none.
func (e *Engine) evict(wmMs int64) *Emission {
	var starts []int64
	for start := range e.open {
		if closedBy(start+e.sizeUs, wmMs) {
			starts = append(starts, start)
		}
	}
	if len(starts) == 0 {
		return nil
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	perWindow := e.cfg.Stage == StageMerge
	if !perWindow {
		e.seq++
	}
	em := &Emission{Seq: e.seq}
	for _, start := range starts {
		if perWindow {
			// One sequence per window: what a sequence holds then depends
			// on the records alone, not on how batches closed windows, so
			// two replicas emitting the same sequence emit the same rows
			// (zombie fencing by the Delta txn version relies on it).
			e.seq++
			em.Seq = e.seq
		}
		n := len(em.Rows)
		keys := e.open[start]
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			em.Rows = append(em.Rows, e.outRow(start, k, keys[k]))
		}
		if perWindow {
			for i := n; i < len(em.Rows); i++ {
				em.Rows[i].Seq = e.seq
			}
		}
		e.nOpen -= len(keys)
		delete(e.open, start)
		e.touched(start)
	}
	return em
}

// touched drops the snapshot's encoding of window start (openEnc): one of
// its groups is about to change, or the window is gone. Every change of a
// group goes through group or merge, which call it.
func (e *Engine) touched(start int64) { delete(e.openEnc, start) }

// remember retains em among the last RetainEmissions with the input
// positions that produced it, so that their redelivery re-emits it.
func (e *Engine) remember(em *Emission, trigger map[string]span) {
	em.Trigger = trigger
	e.pendingBin = nil
	e.pending = append(e.pending, em)
	e.pendingEnc = append(e.pendingEnc, nil)
	if n := len(e.pending) - e.cfg.RetainEmissions; n > 0 {
		e.pending = append([]*Emission(nil), e.pending[n:]...)
		e.pendingEnc = append([][]byte(nil), e.pendingEnc[n:]...)
	}
}

// triggerOfRows is the span of offsets per partition of a batch.
func (e *Engine) triggerOfRows(rows []Row) map[string]span {
	t := map[string]span{}
	// Per run of rows from one partition, then into t: no key built or
	// looked up per row.
	var key string
	var cur span
	flush := func() {
		if key == "" {
			return
		}
		if s, ok := t[key]; ok {
			cur.Lo, cur.Hi = min(s.Lo, cur.Lo), max(s.Hi, cur.Hi)
		}
		t[key] = cur
	}
	for i := range rows {
		if !rows[i].HasPos {
			continue
		}
		pos := rows[i].Pos
		if k := e.keys.Of(pos); k != key {
			flush()
			key, cur = k, span{pos.Offset, pos.Offset}
			continue
		}
		cur.Lo, cur.Hi = min(cur.Lo, pos.Offset), max(cur.Hi, pos.Offset)
	}
	flush()
	return t
}

func widen(t map[string]span, pos Position) {
	k := pos.Key()
	s, ok := t[k]
	if !ok {
		s = span{pos.Offset, pos.Offset}
	}
	s.Lo, s.Hi = min(s.Lo, pos.Offset), max(s.Hi, pos.Offset)
	t[k] = s
}

// Watermark returns the current watermark in epoch ms and whether it is set.
func (e *Engine) Watermark() (int64, bool) { return e.wm.Current, e.wm.Current != noWatermark }

// IdlePartitions returns how many partitions are idle at processing time now
// (per_partition with idle_timeout): they do not hold the watermark back.
func (e *Engine) IdlePartitions(now time.Time) int { return e.wm.Idle(&e.cfg, msOf(now)) }

// Topics lists the topics whose partition counts the state knows, sorted.
func (e *Engine) Topics() []string { return slices.Sorted(maps.Keys(e.wm.Topics)) }

// MaxEventMs returns the max event time seen in epoch ms and whether any was.
func (e *Engine) MaxEventMs() (int64, bool) { return e.wm.MaxEvent, e.wm.MaxEvent != noWatermark }

// OpenGroups returns the number of open (window, key) pairs.
func (e *Engine) OpenGroups() int { return e.nOpen }

// Seq returns the last emission sequence used (0 before the first).
func (e *Engine) Seq() int64 { return e.seq }

// ExpectTopic makes a per_partition watermark wait for partitions 0..n-1
// of topic, as a row of topic with kafka_topic_partitions n does: a topic
// read with the others that has not delivered yet holds windows back
// (until idle_timeout, as a partition that has not delivered).
func (e *Engine) ExpectTopic(topic string, n int32, now time.Time) {
	if e.cfg.Mode != ModePerPartition || e.cfg.Stage != StageFull || n <= e.wm.Topics[topic] {
		return
	}
	e.wm.expect(topic, n, msOf(now))
}

// KnowsTopic says whether the watermark waits for topic's partitions, and
// whether it waits for another topic's.
func (e *Engine) KnowsTopic(topic string) (known, others bool) {
	_, known = e.wm.Topics[topic]
	return known, len(e.wm.Topics) > 1 || len(e.wm.Topics) == 1 && !known
}
