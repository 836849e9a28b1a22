package delta

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// ErrNoTable means the location holds no Delta log.
var ErrNoTable = errors.New("delta: no table at this location (no _delta_log commits)")

// Snapshot is the reconciled table state at Version.
type Snapshot struct {
	Version  int64
	Protocol Protocol
	Metadata Metadata
	Schema   Schema
	// Files are the live add actions by (decoded) path.
	Files map[string]Add
	// Tombstones are remove actions by path (for checkpoints and VACUUM).
	Tombstones map[string]Remove
	// Txns maps appId to its latest txn.
	Txns map[string]Txn
	// CheckpointVersion is the checkpoint this state was loaded from (-1: none).
	CheckpointVersion int64
}

func newSnapshot() *Snapshot {
	return &Snapshot{Version: -1, Files: map[string]Add{}, Tombstones: map[string]Remove{}, Txns: map[string]Txn{}, CheckpointVersion: -1}
}

// TxnVersion returns the committed version for appId, or -1.
func (s *Snapshot) TxnVersion(appID string) int64 {
	if t, ok := s.Txns[appID]; ok {
		return t.Version
	}
	return -1
}

// LiveFiles returns the live adds sorted by path.
func (s *Snapshot) LiveFiles() []Add {
	out := make([]Add, 0, len(s.Files))
	for _, a := range s.Files {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// apply replays one commit's actions (already in version order).
func (s *Snapshot) apply(version int64, acts []Action) error {
	for _, a := range acts {
		switch {
		case a.Protocol != nil:
			s.Protocol = *a.Protocol
		case a.MetaData != nil:
			sch, err := ParseSchemaString(a.MetaData.SchemaString)
			if err != nil {
				return fmt.Errorf("version %d: %w", version, err)
			}
			s.Metadata, s.Schema = *a.MetaData, sch
		case a.Add != nil:
			p, err := DecodePath(a.Add.Path)
			if err != nil {
				return fmt.Errorf("version %d: %w", version, err)
			}
			s.Files[p] = *a.Add
			delete(s.Tombstones, p)
		case a.Remove != nil:
			p, err := DecodePath(a.Remove.Path)
			if err != nil {
				return fmt.Errorf("version %d: %w", version, err)
			}
			delete(s.Files, p)
			s.Tombstones[p] = *a.Remove
		case a.Txn != nil:
			s.Txns[a.Txn.AppID] = *a.Txn
		}
	}
	s.Version = version
	return nil
}

// LoadSnapshot reads the latest table state: the newest checkpoint (found
// through _last_checkpoint and a listing) plus the JSON commits after it.
func LoadSnapshot(ctx context.Context, st objstore.Store) (*Snapshot, error) {
	var from int64
	if lc, err := readLastCheckpoint(ctx, st); err != nil {
		return nil, err
	} else if lc != nil {
		from = lc.Version
	}
	files, err := listLog(ctx, st, from)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 && from > 0 {
		// Stale hint (e.g. log cleaned differently): list everything.
		if files, err = listLog(ctx, st, 0); err != nil {
			return nil, err
		}
	}
	snap := newSnapshot()
	ckpt := int64(-1)
	for _, f := range files {
		if f.checkpoint {
			ckpt = f.version
		}
	}
	if ckpt >= 0 {
		if snap, err = readCheckpoint(ctx, st, ckpt); err != nil {
			return nil, err
		}
	}
	var commits []logFile
	for _, f := range files {
		if !f.checkpoint && f.version > snap.Version {
			commits = append(commits, f)
		}
	}
	if len(commits) == 0 && snap.Version < 0 {
		return nil, ErrNoTable
	}
	if snap.Version < 0 && commits[0].version != 0 {
		return nil, fmt.Errorf("delta: log starts at version %d without a checkpoint", commits[0].version)
	}
	if err := snap.replay(ctx, st, commits); err != nil {
		return nil, err
	}
	return snap, nil
}

func (s *Snapshot) replay(ctx context.Context, st objstore.Store, commits []logFile) error {
	for _, c := range commits {
		if c.version != s.Version+1 {
			return fmt.Errorf("delta: log has a gap: version %d follows %d", c.version, s.Version)
		}
		acts, err := readCommit(ctx, st, c.version)
		if err != nil {
			return err
		}
		if err := s.apply(c.version, acts); err != nil {
			return err
		}
	}
	return nil
}

// Update brings s forward to the latest version and returns the commits it
// read (for conflict checks). If the next commit is missing but later log
// files exist (log cleanup removed versions this snapshot never saw), it
// reloads from the newest checkpoint: committing at the missing version
// would write a commit no reader looks at.
func (s *Snapshot) Update(ctx context.Context, st objstore.Store) (map[int64][]Action, error) {
	seen := map[int64][]Action{}
	for v := s.Version + 1; ; v++ {
		acts, err := readCommit(ctx, st, v)
		if errors.Is(err, objstore.ErrNotFound) {
			later, lerr := listLog(ctx, st, v)
			if lerr != nil {
				return seen, lerr
			}
			if len(later) == 0 {
				return seen, nil
			}
			fresh, ferr := LoadSnapshot(ctx, st)
			if ferr != nil {
				return seen, ferr
			}
			if fresh.Version < v {
				return seen, nil // only an older checkpoint or a racing write: nothing newer
			}
			*s = *fresh
			return seen, nil
		}
		if err != nil {
			return seen, err
		}
		if err := s.apply(v, acts); err != nil {
			return seen, err
		}
		seen[v] = acts
	}
}

// Clone deep-copies the maps so a writer can try actions on a copy.
func (s *Snapshot) Clone() *Snapshot {
	c := *s
	c.Files = make(map[string]Add, len(s.Files))
	for k, v := range s.Files {
		c.Files[k] = v
	}
	c.Tombstones = make(map[string]Remove, len(s.Tombstones))
	for k, v := range s.Tombstones {
		c.Tombstones[k] = v
	}
	c.Txns = make(map[string]Txn, len(s.Txns))
	for k, v := range s.Txns {
		c.Txns[k] = v
	}
	return &c
}
