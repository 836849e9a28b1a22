package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MergeInput is one stage-2 input read from the internal topic: a partial,
// a marker or a heartbeat. Pos is its position in the internal topic, so a
// redelivery (stage 2 commits its offsets after the sink) is recognised.
type MergeInput struct {
	Heartbeat bool
	Partial   *Partial
	Marker    *Marker
	Bundle    *Bundle // a local stage 1's (StageLocal)
	Pos       Position
	HasPos    bool
}

// Merge runs one stage-2 batch (cfg.Stage StageMerge): partials are merged
// exactly into their (window, key); markers raise their source partition's
// progress; at the end of the batch the watermark becomes the minimum over
// every source partition of its max event time − delay (unset until every
// partition of each topic has reported; idle-flagged ones left out) and
// every window it passed is emitted, one sequence per window. A partial for
// a window already emitted (only possible when an idle partition came back)
// is ClosedEarly.
func (e *Engine) Merge(in []MergeInput, now time.Time) Result {
	nowMs := msOf(now)
	if e.wm.restarted {
		e.wm.restart(nowMs)
	}
	lateWM := e.wm.Current
	res := Result{Status: make([]Status, len(in))}
	reemit := e.takeReemitAll()
	trigger := map[string]span{}
	for i := range in {
		x := &in[i]
		if x.Heartbeat {
			res.Status[i] = Tick
			continue
		}
		var part string
		if x.HasPos {
			part = x.Pos.Key()
			widen(trigger, x.Pos)
			if e.applied[part].contains(x.Pos.Offset) {
				res.Status[i] = Replayed
				e.markReemit(part, x.Pos.Offset, reemit)
				continue
			}
		}
		switch {
		case x.Bundle != nil:
			st, lateEnd := e.takeBundle(x.Bundle, lateWM, nowMs)
			if st == ClosedEarly {
				if res.LateWindowEndUs == nil {
					res.LateWindowEndUs = map[int]int64{}
				}
				res.LateWindowEndUs[i] = lateEnd
			}
			if x.HasPos {
				e.applied[part] = e.applied[part].add(x.Pos.Offset)
			}
			res.Status[i] = st
			continue
		case x.Marker != nil:
			e.wm.mark(x.Marker, nowMs)
		case x.Partial != nil:
			end := x.Partial.StartUs + e.sizeUs
			if closedBy(end, lateWM) {
				res.Status[i] = ClosedEarly
				if res.LateWindowEndUs == nil {
					res.LateWindowEndUs = map[int]int64{}
				}
				res.LateWindowEndUs[i] = end
				continue // not marked applied: judged the same way again
			}
			e.merge(x.Partial)
		}
		if x.HasPos {
			e.applied[part] = e.applied[part].add(x.Pos.Offset)
		}
		res.Status[i] = Applied
	}
	for _, em := range e.pending {
		if reemit[em.Seq] {
			res.Emissions = append(res.Emissions, em)
		}
	}
	e.wm.endBatch(&e.cfg, nowMs)
	if em := e.evict(e.wm.Current); em != nil {
		res.New = em
		e.remember(em, trigger)
		res.Emissions = append(res.Emissions, em)
	}
	return res
}

// takeReemitAll returns the set of retained emissions to re-emit because
// the state was just restored.
func (e *Engine) takeReemitAll() map[int64]bool {
	reemit := map[int64]bool{}
	if e.reemitAll {
		for _, em := range e.pending {
			reemit[em.Seq] = true
		}
		e.reemitAll = false
	}
	return reemit
}

// merge folds a partial into its open (window, key).
func (e *Engine) merge(p *Partial) {
	e.touched(p.StartUs)
	keys := e.open[p.StartUs]
	if keys == nil {
		keys = map[string]*group{}
		e.open[p.StartUs] = keys
	}
	g := keys[p.Key]
	if g == nil {
		g = &group{Aggs: make([]acc, len(e.cfg.Aggregates))}
		keys[p.Key] = g
		e.nOpen++
	}
	g.Rows += p.Rows
	for j := range g.Aggs {
		g.Aggs[j].merge(&p.Aggs[j])
	}
}

// mark takes a stage-1 marker: its partition's progress only moves forward;
// the idle flag is the latest marker's. An empty announcement (idle, at
// offset -1: AnnounceEmpty) therefore leaves out only a partition that has
// reported nothing else, until its first progress marker.
func (w *watermark) mark(m *Marker, nowMs int64) {
	if m.Partitions > w.Topics[m.Topic] {
		w.expect(m.Topic, m.Partitions, nowMs)
	}
	if w.Parts == nil {
		w.Parts = map[string]*partition{}
	}
	k := Position{Topic: m.Topic, Partition: m.Partition}.Key()
	p := w.Parts[k]
	if p == nil {
		p = &partition{MaxMs: noWatermark}
		w.Parts[k] = p
	}
	p.MaxMs = max(p.MaxMs, m.MaxMs)
	// Idleness follows the newest marker by source offset; at one offset an
	// idle marker is the newer (idleness is declared after the data at it).
	if !p.Marked || m.Offset > p.MarkOffset || (m.Offset == p.MarkOffset && m.Idle) {
		p.Idle = m.Idle
		p.Marked, p.MarkOffset = true, m.Offset
	}
	p.LastSeenMs = nowMs
	w.MaxEvent = max(w.MaxEvent, m.MaxMs)
	w.LastData = nowMs
}

// CheckPartial validates a decoded partial against the engine's shape, so a
// partial from a differently configured stage 1 is refused, not merged.
func (e *Engine) CheckPartial(p *Partial) error {
	if err := e.checkStageConfig(p); err != nil {
		return err
	}
	switch {
	case len(p.Aggs) != len(e.cfg.Aggregates):
		return fmt.Errorf("partial has %d aggregates, the config has %d", len(p.Aggs), len(e.cfg.Aggregates))
	case windowStart(p.StartUs, e.sizeUs, e.offsetUs) != p.StartUs:
		return fmt.Errorf("partial window start %d µs is not a window start of size/offset %v/%v", p.StartUs, e.cfg.Size, e.cfg.Offset)
	case p.Rows < 1:
		return fmt.Errorf("partial has %d rows", p.Rows)
	}
	for j := range p.Aggs {
		if p.Aggs[j].N < 0 || p.Aggs[j].N > p.Rows {
			return fmt.Errorf("partial aggregate %d counts %d values for %d rows", j, p.Aggs[j].N, p.Rows)
		}
	}
	return nil
}

// EncodePartial and DecodePartial are the wire form of a partial in the
// internal topic (JSON; exact, see Partial).
func EncodePartial(p *Partial) ([]byte, error) { return json.Marshal(p) }

// DecodePartial reads a partial written by EncodePartial.
func DecodePartial(b []byte) (*Partial, error) {
	var p Partial
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("not a window partial: %w", err)
	}
	if p.Key == "" {
		return nil, errors.New("not a window partial: no key")
	}
	return &p, nil
}

// EncodeMarker and DecodeMarker are the wire form of a marker (and of the
// stage-1 changelog value).
func EncodeMarker(m *Marker) ([]byte, error) { return json.Marshal(m) }

// DecodeMarker reads a marker written by EncodeMarker.
func DecodeMarker(b []byte) (*Marker, error) {
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not a window marker: %w", err)
	}
	if m.Topic == "" || m.Partition < 0 {
		return nil, fmt.Errorf("not a window marker: topic %q partition %d", m.Topic, m.Partition)
	}
	return &m, nil
}
