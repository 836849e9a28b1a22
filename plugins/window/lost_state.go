package window

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// lostStateGuard holds stage full when its state started empty although a
// partition's committed offset is progress (kafka_assignment_commit:
// progress): offsets commit only after a state that saw their records was
// written (state.sync: commit's barrier, or batch's write before each ack),
// so that state was lost (a checkpoint deleted, a new empty volume). Going
// on would resume after the committed records onto an empty state and close
// the first windows without them, silently (red team, 4 Dec: the checkpoint
// deleted before the first window closed, 36 of 852 rows wrong).
// delta_lake's window_state_new check only catches this once the table
// holds sequences.
//
// Not progress, no hold: "none" (the group never committed) and "start"
// (only the offset start_offset: latest commits at assignment, before any
// record or state: a process killed before its first state write restarts
// empty with it, which is normal). Each partition is judged on its first
// batch in this process: later assignments are of offsets this process
// committed itself, or, after a reload (reset), at the first batch since.
// A restored state is judged by the commits it covers (behind_state.go).
// Once every partition of the batches' topics was seen, the guard costs one
// atomic load per batch.
type lostStateGuard struct {
	done   atomic.Bool
	mu     sync.Mutex
	seen   map[string]map[int64]bool // topic → partitions seen
	total  map[string]int64          // topic → partition count (kafka_topic_partitions)
	lost   string                    // why the state is taken for lost, once found
	logged time.Time
	warned bool        // the input does not set kafka_assignment_commit
	isLost atomic.Bool // held: state writes are refused (errStateLost)
	again  atomic.Bool // reloaded: judge every partition again (reset)
}

const (
	commitMeta     = "kafka_assignment_commit" // input: none | start | progress
	commitProgress = "progress"

	// state.on_lost values.
	onLostHold   = "hold"
	onLostResume = "resume"
)

// lostStateLogEvery is how often a held batch logs why.
const lostStateLogEvery = time.Minute

// errStateLost refuses state writes once the state is taken for lost: a
// write would make the next start restore a state that lacks the lost
// records, and it would no longer be judged.
var errStateLost = errors.New("tumbling_window: the window state was lost (see the error logged); not written")

// awaitStateNotLost returns nil unless this process's state started empty
// and a partition of the batch resumed from a progress commit; then it
// holds the batch (nothing applied, acked or committed), logging why,
// until ctx ends (shutdown).
func (p *processor) awaitStateNotLost(ctx context.Context, batch service.MessageBatch) error {
	g := &p.lostGuard
	if p.conf.cache == "" || g.done.Load() {
		return nil
	}
	var covered func(part string) (int64, bool)
	if !p.fresh.Load() {
		covered = p.covered
	}
	lost := g.judge(batch, p.conf.key, p.log, covered)
	if lost == "" {
		return nil
	}
	if p.conf.onLost == onLostResume {
		g.mu.Lock()
		if !g.done.Load() {
			p.log.Warnf("%s; state.on_lost is resume: going on from the committed offsets with an empty state (set it back to hold once this state is written)", lost)
		}
		g.done.Store(true) // the operator's call: nothing more to judge
		g.mu.Unlock()
		return nil
	}
	g.isLost.Store(true)
	p.m.lostHeld.Set(1)
	for {
		g.mu.Lock()
		if now := p.now(); g.logged.IsZero() || now.Sub(g.logged) >= lostStateLogEvery {
			g.logged = now
			p.log.Errorf("%s; holding the batch, nothing applied, written or committed", lost)
		}
		g.mu.Unlock()
		p.m.lostHeldBatches.Incr(1)
		t := time.NewTimer(lostStateLogEvery)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", lost, ctx.Err())
		}
	}
}

// judge records the batch's partitions and returns why the state is lost,
// or "". covered is nil for a state that started empty; for a restored one
// it gives the commit offset the state covers of a partition (covers.go).
func (g *lostStateGuard) judge(batch service.MessageBatch, key string, log *service.Logger, covered func(part string) (int64, bool)) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.restart()
	if g.seen == nil {
		g.seen, g.total = map[string]map[int64]bool{}, map[string]int64{}
	}
	for _, m := range batch {
		pos, ok := position(m)
		if !ok || g.seen[pos.Topic][int64(pos.Partition)] {
			continue
		}
		if g.seen[pos.Topic] == nil {
			g.seen[pos.Topic] = map[int64]bool{}
		}
		g.seen[pos.Topic][int64(pos.Partition)] = true
		if n, ok := metaInt(m, partitionsMeta); ok && n > g.total[pos.Topic] {
			g.total[pos.Topic] = n
		}
		kind, ok := metaString(m, commitMeta)
		if !ok && !g.warned {
			g.warned = true
			log.Warnf("tumbling_window: the input does not set %s (list it in kafka_franz metadata_keys): a lost window state cannot be told from a new one", commitMeta)
		}
		if kind != commitProgress || g.lost != "" {
			continue
		}
		if covered != nil { // restored: is it behind the group's commit?
			g.lost = behindCommit(m, pos, key, covered)
		} else {
			g.lost = fmt.Sprintf("tumbling_window: the window state %q started empty, but partition %s/%d resumed at offset %d from the consumer group's progress commit: "+
				"a state that counted the records before it was lost (state.cache emptied or replaced). Going on would close the first windows without them. "+
				"Restore the state; or start over with a new consumer group (and a new table or idempotency.app_id); or, if the offsets were reset on purpose, set state.on_lost: resume for one run (docs/delta.md, \"A lost window checkpoint\")",
				key, pos.Topic, pos.Partition, pos.Offset)
		}
	}
	if g.lost == "" {
		all := len(g.seen) > 0
		for t, ps := range g.seen {
			if int64(len(ps)) < g.total[t] || g.total[t] == 0 {
				all = false
			}
		}
		g.done.Store(all)
	}
	return g.lost
}
