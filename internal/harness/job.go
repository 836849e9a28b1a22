package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// Layout is where one run keeps its files.
type Layout struct {
	Root       string // e.g. ./data
	Table      string // Delta table directory
	Checkpoint string // window state
	Logs       string // child process logs
}

// NewLayout places the seed's default paths under root.
func NewLayout(root string) Layout {
	return Layout{
		Root:       root,
		Table:      filepath.Join(root, "silver", "rides_agg"),
		Checkpoint: filepath.Join(root, "checkpoints", "rides"),
		Logs:       filepath.Join(root, "logs"),
	}
}

// Reset removes the table and the checkpoint of a previous run: a new broker
// starts at offset 0, and an old checkpoint would see its offsets as replays.
func (l Layout) Reset() error {
	for _, d := range []string{l.Table, l.Checkpoint} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return os.MkdirAll(l.Logs, 0o755)
}

// JobEnv is the environment that points config/rides.yaml at this broker and layout.
func (l Layout) JobEnv(brokerAddr, httpAddr string) []string {
	return []string{
		"KAFKA_BOOTSTRAP=" + brokerAddr,
		"KAFKA_START=earliest",
		"OUT_DELTA=" + l.Table,
		"CHECKPOINT=" + l.Checkpoint,
		"HTTP_ADDRESS=" + httpAddr,
	}
}

// TableRows reads the live rows of the Delta table at path (a directory or
// a URL objstore opens with default options), with its version (-1 when the
// table does not exist yet).
func TableRows(ctx context.Context, path string) ([]WindowRow, int64, error) {
	store, err := objstore.Open(ctx, path, objstore.Options{})
	if err != nil {
		return nil, -1, err
	}
	return StoreRows(ctx, store)
}

// StoreRows reads the live rows of the Delta table in store, with its version.
func StoreRows(ctx context.Context, store objstore.Store) ([]WindowRow, int64, error) {
	snap, err := delta.LoadSnapshot(ctx, store)
	if err != nil {
		return nil, -1, err
	}
	maps, err := snap.ReadRows(ctx, store)
	if err != nil {
		return nil, -1, err
	}
	rows, err := RowsFromMaps(maps)
	return rows, snap.Version, err
}

// WaitForRows polls the table at path until it holds want rows or ctx ends.
func WaitForRows(ctx context.Context, path string, want int) ([]WindowRow, error) {
	store, err := objstore.Open(ctx, path, objstore.Options{})
	if err != nil {
		return nil, err
	}
	return WaitForStoreRows(ctx, store, want)
}

// WaitForStoreRows polls the table in store until it holds want rows or ctx ends.
func WaitForStoreRows(ctx context.Context, store objstore.Store, want int) ([]WindowRow, error) {
	var last []WindowRow
	for {
		rows, _, err := StoreRows(ctx, store)
		if err == nil {
			last = rows
			if len(rows) >= want {
				return rows, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("table %s has %d rows, want %d: %w", store.URL(), len(last), want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ParseRides decodes the valid ride records among values (others are skipped:
// they are the dead-letter cases).
func ParseRides(values [][]byte) []Ride {
	var out []Ride
	for _, v := range values {
		var fields map[string]json.RawMessage
		if json.Unmarshal(v, &fields) != nil || len(fields) < 6 {
			continue
		}
		var r Ride
		if json.Unmarshal(v, &r) != nil {
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, r.TS); err == nil {
			out = append(out, r)
		}
	}
	return out
}
