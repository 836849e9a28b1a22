package window

import (
	"context"
	"errors"
	"slices"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// stateTrail is the commit offsets of one source partition whose states
// (stage local, one key per commit) this process wrote or loaded and has not
// deleted yet.
type stateTrail struct {
	pos     engine.Position
	commits []int64 // ascending
}

func (t *stateTrail) add(commit int64) {
	if i, found := slices.BinarySearch(t.commits, commit); !found {
		t.commits = slices.Insert(t.commits, i, commit)
	}
}

// below removes and returns the commits under next.
func (t *stateTrail) below(next int64) []int64 {
	i, _ := slices.BinarySearch(t.commits, next)
	out := slices.Clone(t.commits[:i])
	t.commits = t.commits[i:]
	return out
}

// deleteAccepted deletes the states below the last commit the broker
// accepted of each partition: none of them is read again, as the group's
// commit only moves on. The state of the accepted commit stays: a crash
// before the next commit resumes from it. A failed delete is tried again
// at the next flush; it loses nothing.
func (p *localProcessor) deleteAccepted(ctx context.Context) {
	type del struct {
		k      string
		pos    engine.Position
		commit int64
	}
	var dels []del
	p.mu.Lock()
	for k, next := range p.accepted {
		if t := p.written[k]; t != nil {
			for _, c := range t.below(next) {
				dels = append(dels, del{k, t.pos, c})
			}
		}
	}
	p.mu.Unlock()
	for _, d := range dels {
		key := p.localKey(d.pos, d.commit)
		if err := p.deleteKey(ctx, key); err != nil {
			p.log.Warnf("tumbling_window: deleting the superseded state %q of cache %q (tried again at the next commit): %v", key, p.conf.cache, err)
			p.mu.Lock()
			if t := p.written[d.k]; t != nil {
				t.add(d.commit)
			}
			p.mu.Unlock()
		}
	}
}

// deleteKey deletes a key of state.cache; a missing key is not an error.
func (p *localProcessor) deleteKey(ctx context.Context, key string) error {
	var delErr error
	if err := p.res.AccessCache(ctx, p.conf.cache, func(c service.Cache) { delErr = c.Delete(ctx, key) }); err != nil {
		return err
	}
	if errors.Is(delErr, service.ErrKeyNotFound) {
		return nil
	}
	return delErr
}
