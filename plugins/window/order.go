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

// link is one partition's part of a batch: the offset before its first
// record and its last offset.
type link struct {
	prev, last int64
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
	l := &link{prev: prev, last: pos.Offset}
	c.links[k] = l
	c.cur, c.curKey = l, k
}

// noteMessage records a message whose position has not been read yet.
func (c *chain) noteMessage(m *service.Message) {
	if pos, ok := position(m); ok {
		c.note(m, pos)
	}
}

// ready reports whether every partition's predecessor has been through.
func (p *processor) ready(ls chain) (string, bool) {
	for k, l := range ls.links {
		if t, ok := p.through[k]; l.prev >= 0 && (!ok || t < l.prev) {
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
				"A processor before the window deletes messages? Keep messages (mark errors instead) or use pipeline.threads: 1; see docs/window.md", missing, p.conf.orderTimeout)
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
		if t, ok := p.through[k]; !ok || l.last > t {
			p.through[k] = l.last
		}
	}
	close(p.advanced)
	p.advanced = make(chan struct{})
}
