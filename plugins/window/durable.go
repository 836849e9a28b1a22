package window

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Group commit of the window state.
//
// A batch may be released (and so its offsets committed) only once a state
// that includes it is durable. Every engine step numbers the state (ver); a
// batch then waits in makeDurable until durable ≥ its number. One waiter at a
// time writes: it snapshots the newest state, which covers every batch
// applied so far, so batches that finished their step while a write was in
// flight share the next write instead of each paying one. With one pipeline
// thread that is one write per batch, as before; with several, the write of
// one batch overlaps the parse and engine step of the others.

// makeDurable returns once the state of version v is durable, or an error if
// that state was rolled back because a write was given up.
func (p *processor) makeDurable(ctx context.Context, v uint64) error {
	if p.lostGuard.isLost.Load() {
		return errStateLost
	}
	p.dmu.Lock()
	for {
		if err := p.lostErr(v); err != nil {
			p.dmu.Unlock()
			return err
		}
		switch {
		case p.durable >= v:
			p.dmu.Unlock()
			return nil
		case !p.writing:
			p.writing = true
			p.dmu.Unlock()
			done, err := p.writeNewest(ctx)
			p.dmu.Lock()
			p.writing = false
			if err != nil && p.conf.syncOnCommit {
				// Nothing was rolled back (giveUp): the batches since the
				// last write are acked and wait, uncommitted, for one that
				// succeeds.
				close(p.wrote)
				p.wrote = make(chan struct{})
				p.dmu.Unlock()
				return err
			}
			if err != nil {
				p.lost = append(p.lost, lostRange{after: p.durable, upTo: done, err: err})
			} else {
				p.durable = max(p.durable, done)
			}
			close(p.wrote)
			p.wrote = make(chan struct{})
		default:
			// No ctx here: the writer's own ctx bounds its retries, and a
			// waiter that gave up alone could not undo its rows in memory.
			ch := p.wrote
			p.dmu.Unlock()
			<-ch
			p.dmu.Lock()
		}
	}
}

// lostRange is a span of versions (after, upTo] rolled back by a failed
// write; later versions build on the durable state again. Rare (shutdown
// during a store outage), so a list.
type lostRange struct {
	after, upTo uint64
	err         error
}

// lostErr (dmu held) says why version v was rolled back, or nil.
func (p *processor) lostErr(v uint64) error {
	for _, l := range p.lost {
		if v > l.after && v <= l.upTo {
			return fmt.Errorf("tumbling_window: batch rolled back, its state was not written: %w", l.err)
		}
	}
	return nil
}

// writeNewest writes the newest state if it changed, retrying with back-off
// while the store fails; waiting batches back-pressure the input. It returns
// the version written, or on failure the newest version rolled back: if ctx
// ends first, the in-memory state is rolled back to what is durable.
func (p *processor) writeNewest(ctx context.Context) (uint64, error) {
	p.mu.Lock()
	v := p.ver
	p.mu.Unlock()
	// A stale state is never rolled back and never written; a write long
	// after the consumers' last proof of membership asks the coordinator
	// first (stale_state.go).
	if p.fencedNow(ctx) {
		return v, errStale
	}
	p.mu.Lock()
	v = p.ver
	p.forgetDelivered()
	data, err := p.eng.Snapshot()
	if err != nil {
		err = p.giveUp(fmt.Errorf("tumbling_window: encoding state: %w", err))
		p.mu.Unlock()
		return v, err
	}
	p.mu.Unlock()
	p.m.stateBytes.Set(int64(len(data)))
	if p.conf.cache == "" || bytes.Equal(data, p.persisted) {
		p.persisted = data
		return v, nil
	}
	if unsafeCheckpointEvery > 0 && time.Since(p.lastWrite) < unsafeCheckpointEvery {
		return v, nil // unsafe test build: the batch is released before its state is durable
	}
	p.lastWrite = time.Now()
	if err := p.persist(ctx, p.conf.key, data, p.store); err != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.ver, p.giveUp(err)
	}
	p.persisted = data
	return v, nil
}

// giveUp (mu held) is a write given up: with state.sync batch the in-memory
// state goes back to the durable one (the batches waiting fail and come
// again); with commit it stays, since acked batches are in it, and the
// offsets after the last write stay uncommitted until a write succeeds.
func (p *processor) giveUp(cause error) error {
	if p.conf.syncOnCommit {
		return cause
	}
	return p.rollback(cause)
}

// writeBeforeRelease says whether a batch's state must be durable before the
// batch is released. With state.sync: commit only a batch that emits (its
// rows carry sequence numbers from the state) or that applied rows from
// outside kafka_franz (whose acks nothing holds back) must wait; the others
// are covered by the flush before the next offset commit.
func (p *processor) writeBeforeRelease(rows []engine.Row, emissions int) bool {
	if !p.conf.syncOnCommit || emissions > 0 {
		return true
	}
	for i := range rows {
		if !rows[i].HasPos && !rows[i].Heartbeat {
			return true
		}
	}
	return false
}

// flush is the window's part of the commit barrier: the state including
// every batch applied so far is durable when it returns nil.
func (p *processor) flush(ctx context.Context) error {
	p.mu.Lock()
	v := p.ver
	p.mu.Unlock()
	return p.makeDurable(ctx, v)
}
