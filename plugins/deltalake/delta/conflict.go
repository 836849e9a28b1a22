package delta

import "fmt"

// ReadSet is what a transaction depended on when it read the snapshot; a
// concurrent winner conflicts only if it changed one of these.
type ReadSet struct {
	AppIDs       []string // txn appIds whose version we checked
	RemovedPaths []string // files we remove (OPTIMIZE); decoded paths
}

// ConflictError is a real conflict: retrying at the next version would be
// wrong, the caller must re-read and decide.
type ConflictError struct {
	Version int64
	Reason  string
	AppID   string // set for a concurrent txn on the same appId
	// TableChanged: the protocol or metadata changed; the writer must be
	// reopened (and the table re-validated) before it writes again.
	TableChanged bool
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("delta: conflicting commit at version %d: %s", e.Version, e.Reason)
}

// CheckConflict decides whether a winner's commit (version v) invalidates
// ours. Blind appends never conflict with appends or compactions; protocol
// or metadata changes, a txn for an appId we read, or removal of a file we
// also remove do.
func CheckConflict(v int64, winner []Action, rs ReadSet) error {
	removed := map[string]bool{}
	for _, p := range rs.RemovedPaths {
		removed[p] = true
	}
	for _, a := range winner {
		switch {
		case a.Protocol != nil:
			return &ConflictError{Version: v, Reason: "the protocol changed", TableChanged: true}
		case a.MetaData != nil:
			return &ConflictError{Version: v, Reason: "the table metadata (schema, partitioning or properties) changed", TableChanged: true}
		case a.Txn != nil:
			for _, id := range rs.AppIDs {
				if id == a.Txn.AppID {
					return &ConflictError{Version: v, Reason: fmt.Sprintf("another writer committed txn appId %q version %d", id, a.Txn.Version), AppID: id}
				}
			}
		case a.Remove != nil && len(removed) > 0:
			if p, err := DecodePath(a.Remove.Path); err == nil && removed[p] {
				return &ConflictError{Version: v, Reason: fmt.Sprintf("file %s was removed concurrently", p)}
			}
		}
	}
	return nil
}
