package window

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// lostStateGuard holds stage full when its state started empty although the
// consumer group had already committed offsets for a partition: those
// offsets were committed after a state that saw their records was written
// (state durability comes before the offset commit), so that state was lost
// (a checkpoint deleted, a new empty volume). Going on would resume after
// the committed records onto an empty state and close the first windows
// without them, silently (red team, 4 Dec: the checkpoint deleted before
// the first window closed, 36 of 852 rows wrong). delta_lake's
// window_state_new check only catches this once the table holds sequences.
//
// Each partition is judged on its first batch in this process (its
// kafka_assignment_offset: the committed offset it resumed from, -1 when
// the group had none); later assignments are of offsets this process
// committed itself. Once every partition of the batches' topics was seen,
// the guard costs one atomic load per batch.
type lostStateGuard struct {
	done   atomic.Bool
	mu     sync.Mutex
	seen   map[string]map[int64]bool // topic → partitions seen
	total  map[string]int64          // topic → partition count (kafka_topic_partitions)
	lost   string                    // why the state is taken for lost, once found
	logged time.Time
}

// lostStateLogEvery is how often a held batch logs why.
const lostStateLogEvery = time.Minute

// awaitStateNotLost returns nil unless this process's state started empty
// and a partition of the batch resumed from a committed offset; then it
// holds the batch (nothing applied, acked or committed), logging why, until
// ctx ends (shutdown).
func (p *processor) awaitStateNotLost(ctx context.Context, batch service.MessageBatch) error {
	g := &p.lostGuard
	if p.conf.cache == "" || g.done.Load() || !p.fresh.Load() {
		return nil
	}
	lost := g.judge(batch, p.conf.key)
	if lost == "" {
		return nil
	}
	for {
		g.mu.Lock()
		if now := p.now(); g.logged.IsZero() || now.Sub(g.logged) >= lostStateLogEvery {
			g.logged = now
			p.log.Errorf("%s; holding the batch, nothing applied or committed", lost)
		}
		g.mu.Unlock()
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
// or "".
func (g *lostStateGuard) judge(batch service.MessageBatch, key string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
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
		if start, ok := metaInt(m, startMeta); ok && start >= 0 && g.lost == "" {
			g.lost = fmt.Sprintf("tumbling_window: the window state %q started empty, but the consumer group had already committed offset %d of %s/%d: "+
				"a state that counted the records before it was lost (state.cache emptied or replaced). Going on would close the first windows without them. "+
				"Restore the state, or start over with a new consumer group (and a new table or idempotency.app_id) (docs/delta.md, \"A lost window checkpoint\")",
				key, start, pos.Topic, pos.Partition)
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
