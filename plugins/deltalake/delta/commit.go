package delta

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// CommitPolicy bounds the commit loop.
type CommitPolicy struct {
	MaxAttempts int           // default 30
	BaseBackoff time.Duration // default 25ms, doubled per attempt, jittered
	MaxBackoff  time.Duration // default 2s
	// Sleep waits (injectable for tests); default honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p CommitPolicy) withDefaults() CommitPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 30
	}
	if p.BaseBackoff <= 0 {
		p.BaseBackoff = 25 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 2 * time.Second
	}
	if p.Sleep == nil {
		p.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return p
}

func (p CommitPolicy) backoff(attempt int) time.Duration {
	d := p.BaseBackoff << min(attempt, 16)
	if d > p.MaxBackoff || d <= 0 {
		d = p.MaxBackoff
	}
	return d/2 + rand.N(d/2+1) // jitter so racing writers spread out
}

// CommitEvents are optional callbacks for metrics.
type CommitEvents struct {
	Retry    func(reason string)
	Conflict func(err *ConflictError)
}

// commitLoop writes actions as version snap.Version+1 with put-if-absent.
// On losing the race it replays the winners into snap, checks conflicts and
// tries the next version. An error after sending (the PUT may have landed)
// is resolved by reading the commit back and looking for our txnId.
// build is called for each attempt with the version being tried.
func commitLoop(ctx context.Context, st objstore.Store, snap *Snapshot, rs ReadSet, txnID string,
	build func(version int64) ([]Action, error), pol CommitPolicy, ev CommitEvents) (int64, error) {
	pol = pol.withDefaults()
	var lastErr error
	for attempt := 0; attempt < pol.MaxAttempts; attempt++ {
		if attempt > 0 {
			if err := pol.Sleep(ctx, pol.backoff(attempt-1)); err != nil {
				return -1, err
			}
		}
		v := snap.Version + 1
		acts, err := build(v)
		if err != nil {
			return -1, err
		}
		body, err := EncodeCommit(acts)
		if err != nil {
			return -1, err
		}
		perr := st.PutIfAbsent(ctx, CommitKey(v), body)
		lastErr = perr
		if perr == nil {
			return v, snap.apply(v, acts)
		}
		// Lost the race, or unknown outcome: look at what is there.
		winner, rerr := readCommit(ctx, st, v)
		switch {
		case rerr == nil && commitTxnID(winner) == txnID:
			return v, snap.apply(v, acts) // ours landed (lost response or SDK retry saw 412)
		case rerr == nil:
			if ev.Retry != nil {
				ev.Retry("lost_race")
			}
			if err := CheckConflict(v, winner, rs); err != nil {
				var ce *ConflictError
				if errors.As(err, &ce) && ev.Conflict != nil {
					ev.Conflict(ce)
				}
				if aerr := snap.apply(v, winner); aerr != nil {
					return -1, aerr
				}
				return -1, err
			}
			if err := snap.apply(v, winner); err != nil {
				return -1, err
			}
			// Catch up with any further winners before the next try; each
			// of them may conflict too (a txn of one of our appIds behind
			// an unrelated winner).
			before := txnVersions(snap, rs.AppIDs)
			seen, err := snap.Update(ctx, st)
			if err != nil {
				return -1, err
			}
			if err := caughtUpConflict(snap, seen, rs, before); err != nil {
				var ce *ConflictError
				if errors.As(err, &ce) && ev.Conflict != nil {
					ev.Conflict(ce)
				}
				return -1, err
			}
		case errors.Is(rerr, objstore.ErrNotFound) && !errors.Is(perr, objstore.ErrExists):
			if ev.Retry != nil {
				ev.Retry("store_error")
			}
			// Nothing landed: retry the same version.
		default:
			if ev.Retry != nil {
				ev.Retry("store_error")
			}
			if rerr != nil && !errors.Is(rerr, objstore.ErrNotFound) {
				lastErr = rerr // transient read failure: retry
			}
		}
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
	}
	return -1, fmt.Errorf("delta: commit failed after %d attempts: %w", pol.MaxAttempts, lastErr)
}

func txnVersions(snap *Snapshot, appIDs []string) map[string]int64 {
	out := make(map[string]int64, len(appIDs))
	for _, id := range appIDs {
		out[id] = snap.TxnVersion(id)
	}
	return out
}

// caughtUpConflict checks the commits a catch-up applied (seen, by
// version) as CheckConflict checks a winner, and, should the catch-up have
// reloaded the snapshot instead (commits cleaned up meanwhile), any change
// of the txn versions of our appIds.
func caughtUpConflict(snap *Snapshot, seen map[int64][]Action, rs ReadSet, before map[string]int64) error {
	vs := make([]int64, 0, len(seen))
	for v := range seen {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	for _, v := range vs {
		if err := CheckConflict(v, seen[v], rs); err != nil {
			return err
		}
	}
	for _, id := range rs.AppIDs {
		if v := snap.TxnVersion(id); v != before[id] {
			return &ConflictError{Version: snap.Version, Reason: fmt.Sprintf("another writer committed txn appId %q version %d", id, v), AppID: id}
		}
	}
	return nil
}

// commitTxnID returns commitInfo.txnId of a commit ("" if none).
func commitTxnID(acts []Action) string {
	for _, a := range acts {
		if a.CommitInfo != nil {
			if s, ok := a.CommitInfo["txnId"].(string); ok {
				return s
			}
		}
	}
	return ""
}
