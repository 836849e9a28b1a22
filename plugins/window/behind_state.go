package window

import (
	"fmt"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// A restored stage-full state older than the group's commit.
//
// The state is one object for the whole topic, written after a membership
// check (stale_state.go). A process paused between that check and its
// write, or SIGKILLed with the write in flight, can still land one stale
// write after its successor's, and the checkpoint cache has no
// compare-and-set. The successor's next write replaces it; but if the
// successor is replaced first, the next owner restored it and went on from
// the group's newer commit: the records in between were in no state, and
// their windows closed without them, silently. Now each state records, per
// partition, the offset up to which its records went through the window
// (Engine.Cover: the commit barrier makes every offset commit follow a
// state that covers it), and a restored state whose covered offset is
// below the group's committed offset (kafka_assignment_offset) is held
// like a lost one (lost_state.go), naming both offsets.

// cover (mu held) records, after a batch, how far each of its partitions
// went through the window: the batches of a partition go through in offset
// order (awaitTurn), errored records and late rows included.
func (p *processor) cover(ls chain) {
	for k, l := range ls.links {
		p.eng.Cover(k, l.last+1)
	}
}

// coverCommitting (commit barrier, state.sync: commit) makes the state the
// flush is about to write cover the partition's commit: every record before
// next was acknowledged, so it went through the window (applied, late or
// dead-lettered: cover already counts those) or was dropped before it (a
// filter, a mapping with deleted()), which cover never sees. Without it a
// run whose last records of a partition were dropped so committed past the
// state's covers, and the restart held the job as behind its group, for
// good (6 Dec, e2e TestAFilteredRunBetweenRestartsIsNoLostState).
func (p *processor) coverCommitting(topic string, partition int32, next, _ int64) {
	k := engine.Position{Topic: topic, Partition: partition}.Key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.eng.Covered(k); ok && c >= next {
		return
	}
	p.eng.Cover(k, next)
	p.ver++ // a new state: the flush writes it
}

// covered is the commit offset the current state covers of a partition.
func (p *processor) covered(part string) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.eng.Covered(part)
}

// behindCommit returns why a restored state that covers partition pos only
// up to a commit below the group's is stale, or "" when it is not (or
// cannot be told: no covers in a state of an earlier version, or an input
// that does not set kafka_assignment_offset).
func behindCommit(m *service.Message, pos engine.Position, key string, covered func(part string) (int64, bool)) string {
	committed, ok := metaInt(m, startMeta)
	if !ok || committed < 0 {
		return ""
	}
	c, ok := covered(pos.Key())
	if !ok || c >= committed {
		return ""
	}
	return fmt.Sprintf("tumbling_window: the window state %q covers partition %s/%d up to offset %d, but the consumer group committed up to offset %d: "+
		"the state is older than the group's progress (a late write of a process that had lost the topic, or a checkpoint restored from a backup), and going on would close windows without the records in between. "+
		"Reset the group's offset of %s/%d to %d (kafka-consumer-groups.sh --reset-offsets --to-offset %d) and restart: those records are read again and counted once (delta_lake skips the windows it already has); "+
		"or set state.on_lost: resume for one run to go on without them (docs/window.md, \"A paused process is fenced\")",
		key, pos.Topic, pos.Partition, c, committed, pos.Topic, pos.Partition, c, c)
}

// reset makes the guard judge every partition again at its next batch: the
// state was reloaded. Called with the processor's mu held, which judge
// takes under g.mu (covered): so no g.mu here, judge clears what it saw.
func (g *lostStateGuard) reset() {
	g.again.Store(true)
	g.done.Store(false)
}

// restart (g.mu held) forgets what was judged before a reset.
func (g *lostStateGuard) restart() {
	if g.again.Swap(false) {
		g.seen, g.total = nil, nil
		if !g.isLost.Load() {
			g.lost = ""
		}
	}
}
