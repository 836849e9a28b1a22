package window

import (
	"context"
	"math"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Partitions committed before they were loaded.
//
// Stage local loads a source partition on its first message of an
// assignment epoch that reaches the window (a ride, a dead letter, a
// notice). Records a processor before the window drops (a mapping with
// deleted(), a filter a user adds) never reach it, yet the consumer
// commits their offsets. A process whose every record of p so far was
// dropped so committed p past the state it started from with no state
// named after that commit, and the next start held p as lost, for good
// (6 Dec, e2e TestAFilteredRunBetweenRestartsIsNoLostState). Before such a
// commit's flush, the state p's assignment started from is loaded and
// written again under the new commit: nothing of p reached the window
// since, so it is p's state at that commit. A group with no commit of
// progress (none, or the start pin) started p empty.

// carried is a partition to carry: committing up to next, resumed from the
// progress commit from (-1: none).
type carried struct {
	pos        engine.Position
	next, from int64
}

// carriedEpoch marks in epochs a partition loaded by carryUnloaded: no
// message has it, so p's first message loads p again at its own epoch
// (the same state: nothing of p was applied).
const carriedEpoch = math.MinInt64

// carryUnloaded (wmu held, before the flush's writes) loads each partition
// to carry and marks it for the flush to write under its commit. A state
// not found for a commit of progress is left alone: it was lost, and the
// next load holds p, as it must.
func (p *localProcessor) carryUnloaded(ctx context.Context) error {
	p.mu.Lock()
	carry := p.carry
	p.carry = map[string]carried{}
	p.mu.Unlock()
	for k, c := range carry {
		delete(carry, k) // done, whatever follows
		var data []byte
		if c.from >= 0 {
			_, d, err := p.readCommitted(ctx, c.pos, c.from)
			if err != nil {
				carry[k] = c
				p.restoreCarry(carry) // for the next flush (this commit waits for it)
				return err
			}
			if d == nil {
				continue
			}
			stamp, _, err := engine.LocalStateInfo(d)
			if err != nil || stamp.Commit < c.from {
				continue // not a state of this job, or behind: the next load judges it
			}
			data = d
		}
		p.mu.Lock()
		if _, mine := p.epochs[k]; !mine { // not loaded by a batch meanwhile
			if err := p.eng.LoadPartition(c.pos.Topic, c.pos.Partition, data, p.now()); err == nil {
				p.epochs[k] = carriedEpoch
				p.committing[k] = engine.Position{Topic: c.pos.Topic, Partition: c.pos.Partition, Offset: c.next}
				p.dirty[k] = c.pos
				p.log.Debugf("tumbling_window: %s: committed up to %d with nothing of it through the window since %d: its state carried over", k, c.next, c.from)
			}
		}
		p.mu.Unlock()
	}
	return nil
}

// restoreCarry puts back the carries a failed read left, for the next
// flush.
func (p *localProcessor) restoreCarry(left map[string]carried) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range left {
		if old, ok := p.carry[k]; !ok || c.next > old.next {
			p.carry[k] = c
		}
	}
}
