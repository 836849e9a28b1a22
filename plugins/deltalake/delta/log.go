package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/miaradia/rides-connect/internal/objstore"
)

const logDir = "_delta_log/"

// CommitKey is the object key of version v's commit file.
func CommitKey(v int64) string { return fmt.Sprintf("%s%020d.json", logDir, v) }

// CheckpointKey is the key of a classic single-file checkpoint.
func CheckpointKey(v int64) string { return fmt.Sprintf("%s%020d.checkpoint.parquet", logDir, v) }

const lastCheckpointKey = logDir + "_last_checkpoint"

// LastCheckpoint is the _last_checkpoint hint.
type LastCheckpoint struct {
	Version int64 `json:"version"`
	Size    int64 `json:"size"`
	// NumOfAddFiles and SizeInBytes are optional fields readers may use.
	NumOfAddFiles *int64 `json:"numOfAddFiles,omitempty"`
	SizeInBytes   *int64 `json:"sizeInBytes,omitempty"`
}

// logFile is one parsed entry of _delta_log.
type logFile struct {
	version    int64
	checkpoint bool
	key        string
}

// parseLogKey recognises NNN.json and single-part NNN.checkpoint.parquet.
func parseLogKey(key string) (logFile, bool) {
	name := strings.TrimPrefix(key, logDir)
	if strings.Contains(name, "/") || len(name) < 21 {
		return logFile{}, false
	}
	v, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil {
		return logFile{}, false
	}
	switch name[20:] {
	case ".json":
		return logFile{version: v, key: key}, true
	case ".checkpoint.parquet":
		return logFile{version: v, checkpoint: true, key: key}, true
	}
	return logFile{}, false
}

// listLog returns commits and checkpoints with a version >= from, in order.
func listLog(ctx context.Context, st objstore.Store, from int64) ([]logFile, error) {
	start := ""
	if from > 0 {
		start = fmt.Sprintf("%s%020d", logDir, from-1) + "~" // after every name of version from-1
	}
	objs, err := st.List(ctx, logDir, start)
	if err != nil {
		return nil, err
	}
	var out []logFile
	for _, o := range objs {
		if lf, ok := parseLogKey(o.Key); ok && lf.version >= from {
			out = append(out, lf)
		}
	}
	return out, nil
}

func readLastCheckpoint(ctx context.Context, st objstore.Store) (*LastCheckpoint, error) {
	b, err := st.Get(ctx, lastCheckpointKey)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lc LastCheckpoint
	if err := json.Unmarshal(b, &lc); err != nil {
		return nil, nil // a torn or foreign hint is only a hint: list instead
	}
	return &lc, nil
}

// readCommit reads and decodes version v; ErrNotFound if absent.
func readCommit(ctx context.Context, st objstore.Store, v int64) ([]Action, error) {
	b, err := st.Get(ctx, CommitKey(v))
	if err != nil {
		return nil, err
	}
	acts, err := DecodeCommit(b)
	if err != nil {
		return nil, fmt.Errorf("version %d: %w", v, err)
	}
	return acts, nil
}
