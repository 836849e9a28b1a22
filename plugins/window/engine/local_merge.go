package engine

import (
	"fmt"
	"slices"
)

// Stage merge's side of a local stage 1 (local.go). A source partition p's
// bundles may reach an internal partition more than once (a replay, a
// zombie replica, a retried write) and out of order (two batches of p
// written by different pipeline threads), but each carries the span of
// window ends (From, To] its partials close. Stage merge keeps, per p, the
// window end up to which it has taken all of p's partials (Closed): a
// bundle starting at or below it is taken for its windows above it only,
// and raises it to To; one starting above it is held until the bundles in
// between arrive. So every partial of p counts once, and p's progress never
// closes a window before p's partials of it are in.

// localSource is stage merge's record of one source partition.
type localSource struct {
	Closed int64     `json:"closed_us"`
	Held   []*Bundle `json:"held,omitempty"`   // waiting for Closed to reach their From
	Chunks []*Bundle `json:"chunks,omitempty"` // parts of split bundles waiting for their siblings
}

// takeBundle applies one bundle record; it returns ClosedEarly (with the
// latest such window end) if a partial came for a window already emitted,
// which only idleness can cause.
func (e *Engine) takeBundle(b *Bundle, lateWM, nowMs int64) (Status, int64) {
	if e.local == nil {
		e.local = map[string]*localSource{}
	}
	k := Position{Topic: b.Source.Topic, Partition: b.Source.Partition}.Key()
	ls := e.local[k]
	if ls == nil {
		ls = &localSource{Closed: noWatermark}
		e.local[k] = ls
	}
	if b.Parts > 1 {
		if b.To <= ls.Closed && len(b.Partials) > 0 {
			return Replayed, 0
		}
		whole := ls.assemble(b)
		if whole == nil {
			return Applied, 0 // held until its siblings come
		}
		b = whole
	}
	if b.From > ls.Closed {
		if !slices.ContainsFunc(ls.Held, func(h *Bundle) bool { return h.From == b.From && h.To == b.To && h.Source.Idle == b.Source.Idle }) {
			ls.Held = append(ls.Held, b)
		}
		return Applied, 0
	}
	st, late := e.applyBundle(ls, b, lateWM, nowMs)
	for {
		i := slices.IndexFunc(ls.Held, func(h *Bundle) bool { return h.From <= ls.Closed })
		if i < 0 {
			break
		}
		h := ls.Held[i]
		ls.Held = slices.Delete(ls.Held, i, i+1)
		if s, l := e.applyBundle(ls, h, lateWM, nowMs); s == ClosedEarly {
			st, late = ClosedEarly, max(late, l)
		}
	}
	return st, late
}

// applyBundle takes the partials of b above ls.Closed (b.From <= ls.Closed).
func (e *Engine) applyBundle(ls *localSource, b *Bundle, lateWM, nowMs int64) (Status, int64) {
	st, late := Applied, int64(0)
	if b.To <= ls.Closed && len(b.Partials) > 0 {
		st = Replayed
	}
	for i := range b.Partials {
		p := &b.Partials[i]
		end := p.StartUs + e.sizeUs
		if end <= ls.Closed {
			continue // taken before
		}
		if closedBy(end, lateWM) {
			st, late = ClosedEarly, max(late, end)
			continue
		}
		e.merge(p)
	}
	ls.Closed = max(ls.Closed, b.To)
	e.wm.mark(&b.Source, nowMs)
	return st, late
}

// assemble keeps a part of a split bundle and returns the whole bundle once
// every part of the same (From, To) is in.
func (ls *localSource) assemble(b *Bundle) *Bundle {
	same := func(c *Bundle) bool { return c.From == b.From && c.To == b.To }
	if !slices.ContainsFunc(ls.Chunks, func(c *Bundle) bool { return same(c) && c.Part == b.Part }) {
		ls.Chunks = append(ls.Chunks, b)
	}
	var parts []*Bundle
	for _, c := range ls.Chunks {
		if same(c) {
			parts = append(parts, c)
		}
	}
	if len(parts) < int(b.Parts) {
		return nil
	}
	slices.SortFunc(parts, func(x, y *Bundle) int { return int(x.Part - y.Part) })
	whole := *parts[0]
	whole.Part, whole.Parts, whole.Partials = 0, 1, nil
	for _, c := range parts {
		whole.Partials = append(whole.Partials, c.Partials...)
		if c.Source.Offset > whole.Source.Offset {
			whole.Source = c.Source
		}
	}
	ls.Chunks = slices.DeleteFunc(ls.Chunks, same)
	return &whole
}

// CheckBundle validates a decoded bundle against the engine's shape, as
// CheckPartial does for each of its partials.
func (e *Engine) CheckBundle(b *Bundle) error {
	switch {
	case b.Source.Topic == "" || b.Source.Partition < 0:
		return fmt.Errorf("bundle source %q partition %d", b.Source.Topic, b.Source.Partition)
	case b.From > b.To:
		return fmt.Errorf("bundle spans window ends %d to %d", b.From, b.To)
	case b.Parts > 1 && (b.Part < 0 || b.Part >= b.Parts):
		return fmt.Errorf("bundle part %d of %d", b.Part, b.Parts)
	}
	for i := range b.Partials {
		p := &b.Partials[i]
		if err := e.CheckPartial(p); err != nil {
			return err
		}
		if end := p.StartUs + e.sizeUs; end <= b.From || end > b.To {
			return fmt.Errorf("bundle partial of window end %d outside its span (%d, %d]", end, b.From, b.To)
		}
	}
	return nil
}

// checkLocal validates a restored stage-merge record of local sources.
func checkLocal(local map[string]*localSource, nAggs int) error {
	for k, ls := range local {
		if ls == nil {
			return fmt.Errorf("local source %s is null", k)
		}
		for _, b := range append(slices.Clone(ls.Held), ls.Chunks...) {
			if b == nil {
				return fmt.Errorf("local source %s holds a null bundle", k)
			}
			for _, p := range b.Partials {
				if len(p.Aggs) != nAggs {
					return fmt.Errorf("local source %s: a held partial has %d aggregates, want %d", k, len(p.Aggs), nAggs)
				}
			}
		}
	}
	return nil
}
