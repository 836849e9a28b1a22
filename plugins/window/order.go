package window

import (
	"context"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Offset order across pipeline threads.
//
// Lateness is judged against a partition's progress in offset order, so a
// partition's records must reach the engine in that order. With several
// pipeline threads, Benthos may hand a later batch to the window first. The
// kafka_franz input chains each partition's records (metadata
// kafka_prev_offset: the offset delivered before this one, -1 at the start of
// an assignment); a batch waits here until, for every partition in it, the
// record before its first one has been through the window.
//
// The chain restarts at every assignment or rewind (metadata
// kafka_assignment_epoch), so what has been through is kept per epoch: after
// a rewind the offsets delivered before it say nothing about the order of the
// offsets delivered again, and the second batch of the new epoch must wait
// for the first even though an offset past its predecessor went through in
// the old epoch.

// link is one partition's part of a batch: the offset before its first
// record and its last offset.
type link struct {
	prev, last int64
	epoch      int64 // kafka_assignment_epoch, -1 without it
}

// passedUpTo is what of a partition has been through the window: up to
// offset last of assignment epoch epoch.
type passedUpTo struct {
	epoch, last int64
}

// chain collects the partition links of a batch, errored messages included
// (they went through the window too). Without kafka_prev_offset (another
// input) a batch has no links and never waits.
type chain struct {
	links map[string]*link
	keys  engine.PartitionKeys
	// cur is the link of the partition noted last (key curKey): a batch
	// holds runs of one partition's records, so most notes skip the map.
	cur    *link
	curKey string
}

// note records a message at pos.
func (c *chain) note(m *service.Message, pos engine.Position) {
	k := c.keys.Of(pos)
	if c.cur != nil && c.curKey == k {
		c.cur.last = max(c.cur.last, pos.Offset)
		return
	}
	if l := c.links[k]; l != nil {
		l.last = max(l.last, pos.Offset)
		c.cur, c.curKey = l, k
		return
	}
	prev, ok := metaInt(m, prevOffsetMeta)
	if !ok {
		return
	}
	if c.links == nil {
		c.links = map[string]*link{}
	}
	epoch, ok := metaInt(m, epochMeta)
	if !ok {
		epoch = -1
	}
	l := &link{prev: prev, last: pos.Offset, epoch: epoch}
	c.links[k] = l
	c.cur, c.curKey = l, k
}

// noteMessage records a message whose position has not been read yet.
func (c *chain) noteMessage(m *service.Message) {
	if pos, ok := position(m); ok {
		c.note(m, pos)
	}
}

// ready reports whether every partition's predecessor has been through. A
// batch of an epoch older than one already through does not wait: its
// predecessor may never come (the partition was rewound or moved).
func (p *processor) ready(ls chain) (string, bool) {
	for k, l := range ls.links {
		if l.prev < 0 {
			continue
		}
		t, ok := p.through[k]
		if !ok || t.epoch < l.epoch || (t.epoch == l.epoch && t.last < l.prev) {
			return fmt.Sprintf("%s offset %d", k, l.prev), false
		}
	}
	return "", true
}

// awaitTurn blocks (p.mu held, released while waiting) until the batch is
// next in offset order for each of its partitions, ctx ends, or
// order_timeout passes. On timeout the batch goes ahead, loudly: a processor
// before the window deleted messages, so what it waits for never comes.
func (p *processor) awaitTurn(ctx context.Context, ls chain) error {
	missing, ok := p.ready(ls)
	if ok {
		return nil
	}
	p.m.orderWaits.Incr(1)
	timer := time.NewTimer(p.conf.orderTimeout)
	defer timer.Stop()
	for !ok {
		ch := p.advanced
		p.mu.Unlock()
		select {
		case <-ch:
			p.mu.Lock()
		case <-ctx.Done():
			p.mu.Lock()
			return fmt.Errorf("tumbling_window: waiting for %s to reach the window: %w", missing, ctx.Err())
		case <-timer.C:
			p.mu.Lock()
			if missing, ok = p.ready(ls); ok {
				return nil
			}
			p.m.orderTimeouts.Incr(1)
			p.log.Warnf("tumbling_window: %s has not reached the window after %v; applying a later batch of that partition anyway. "+
				"Its rows may be dropped as late when it comes. Either a processor before the window deletes messages (keep them, mark errors instead), "+
				"or the window runs where batches come one at a time behind pipeline threads (output processors: move it to pipeline.processors, or use pipeline.threads: 1); see docs/window.md", missing, p.conf.orderTimeout)
			return nil
		}
		missing, ok = p.ready(ls)
	}
	return nil
}

// passed records the batch as through the window and wakes waiting batches.
func (p *processor) passed(ls chain) {
	if len(ls.links) == 0 {
		return
	}
	for k, l := range ls.links {
		t, ok := p.through[k]
		if !ok || l.epoch > t.epoch || (l.epoch == t.epoch && l.last > t.last) {
			p.through[k] = passedUpTo{epoch: l.epoch, last: l.last}
		}
	}
	close(p.advanced)
	p.advanced = make(chan struct{})
}
