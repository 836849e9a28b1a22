package delta

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// VacuumResult lists the files VACUUM deletes (or would, in a dry run).
type VacuumResult struct {
	Files   []string
	Bytes   int64
	Deleted int
}

// Vacuum deletes data files that no live add references and that are older
// than retention (by their remove's deletionTimestamp, else their
// modification time), so files of in-flight commits are kept. A retention
// shorter than the table's delta.deletedFileRetentionDuration is refused.
func Vacuum(ctx context.Context, st objstore.Store, retention time.Duration, dryRun bool, now time.Time) (VacuumResult, error) {
	var res VacuumResult
	snap, err := LoadSnapshot(ctx, st)
	if err != nil {
		return res, err
	}
	if min := deletedFileRetention(snap.Metadata.Configuration); retention < min {
		return res, fmt.Errorf("delta: vacuum retention %s is shorter than the table's %s (%s); readers of older versions and in-flight writers could lose files", retention, PropDeletedFileRetention, min)
	}
	cutoff := now.Add(-retention)
	objs, err := st.List(ctx, "", "")
	if err != nil {
		return res, err
	}
	for _, o := range objs {
		if hiddenPath(o.Key) {
			continue
		}
		if _, live := snap.Files[o.Key]; live {
			continue
		}
		when := o.ModTime
		if r, ok := snap.Tombstones[o.Key]; ok && r.DeletionTimestamp != nil {
			when = time.UnixMilli(*r.DeletionTimestamp)
		}
		if when.After(cutoff) {
			continue
		}
		res.Files = append(res.Files, o.Key)
		res.Bytes += o.Size
	}
	sort.Strings(res.Files)
	if dryRun {
		return res, nil
	}
	for _, k := range res.Files {
		if err := st.Delete(ctx, k); err != nil {
			return res, err
		}
		res.Deleted++
	}
	return res, nil
}

// hiddenPath: the log and any path segment starting with _ or . are not
// data files (PROTOCOL.md reserves them).
func hiddenPath(key string) bool {
	for _, seg := range strings.Split(key, "/") {
		if strings.HasPrefix(seg, "_") && !strings.Contains(seg, "=") || strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// HistoryEntry is one commit's provenance.
type HistoryEntry struct {
	Version    int64
	CommitInfo CommitInfo
	Adds       int
	Removes    int
	Txns       []Txn
}

// History reads the commitInfo of the last limit commits still in the log
// (newest first).
func History(ctx context.Context, st objstore.Store, limit int) ([]HistoryEntry, error) {
	files, err := listLog(ctx, st, 0)
	if err != nil {
		return nil, err
	}
	var versions []int64
	for _, f := range files {
		if !f.checkpoint {
			versions = append(versions, f.version)
		}
	}
	var out []HistoryEntry
	for i := len(versions) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		acts, err := readCommit(ctx, st, versions[i])
		if err != nil {
			return nil, err
		}
		h := HistoryEntry{Version: versions[i]}
		for _, a := range acts {
			switch {
			case a.CommitInfo != nil:
				h.CommitInfo = a.CommitInfo
			case a.Add != nil:
				h.Adds++
			case a.Remove != nil:
				h.Removes++
			case a.Txn != nil:
				h.Txns = append(h.Txns, *a.Txn)
			}
		}
		out = append(out, h)
	}
	return out, nil
}
