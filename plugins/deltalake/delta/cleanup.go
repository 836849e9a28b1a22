package delta

import (
	"context"
	"strings"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// Log retention properties (PROTOCOL.md "Metadata Cleanup").
const (
	PropLogRetention      = "delta.logRetentionDuration"
	PropExpiredLogCleanup = "delta.enableExpiredLogCleanup"
	defaultLogRetention   = 30 * 24 * time.Hour
)

func logRetention(conf map[string]string) (time.Duration, bool) {
	if strings.EqualFold(conf[PropExpiredLogCleanup], "false") {
		return 0, false
	}
	if d, err := ParseInterval(conf[PropLogRetention]); err == nil && conf[PropLogRetention] != "" {
		return d, true
	}
	return defaultLogRetention, true
}

// CleanupLog deletes log files that only serve versions older than the
// retention: it finds the newest checkpoint whose commit is older than the
// cutoff and deletes the commits and checkpoints before it (that checkpoint
// and everything after it stay, so the table stays readable). It returns
// the number of files deleted.
func CleanupLog(ctx context.Context, st objstore.Store, conf map[string]string, now time.Time) (int, error) {
	retention, ok := logRetention(conf)
	if !ok {
		return 0, nil
	}
	cutoff := now.Add(-retention)
	objs, err := st.List(ctx, logDir, "")
	if err != nil {
		return 0, err
	}
	type entry struct {
		lf  logFile
		mod time.Time
	}
	var entries []entry
	commitTime := map[int64]time.Time{}
	for _, o := range objs {
		if lf, ok := parseLogKey(o.Key); ok {
			entries = append(entries, entry{lf, o.ModTime})
			if !lf.checkpoint {
				commitTime[lf.version] = o.ModTime
			}
		}
	}
	keep := int64(-1) // newest checkpoint whose commit is past the cutoff
	for _, e := range entries {
		if t, ok := commitTime[e.lf.version]; e.lf.checkpoint && ok && t.Before(cutoff) && e.lf.version > keep {
			keep = e.lf.version
		}
	}
	if keep <= 0 {
		return 0, nil
	}
	n := 0
	for _, e := range entries {
		if e.lf.version < keep && e.mod.Before(cutoff) {
			if err := st.Delete(ctx, e.lf.key); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
