package delta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/miaradia/rides-connect/internal/objstore"
)

// EngineInfo goes into commitInfo.engineInfo.
const EngineInfo = "rides-connect-delta/1.0"

// TableConfig describes the table a writer wants.
type TableConfig struct {
	Schema           Schema
	PartitionColumns []string
	Properties       map[string]string // applied when the table is created
	SchemaEvolution  bool              // add new nullable columns to an existing table
	Name             string
}

// Validate checks the config on its own.
func (c TableConfig) Validate() error {
	if err := c.Schema.Validate(); err != nil {
		return err
	}
	seen := map[int]bool{}
	for _, p := range c.PartitionColumns {
		i := c.Schema.Index(p)
		if i >= 0 && seen[i] {
			// One directory level per column: twice, the file paths would hold
			// it twice and the log's partitionValues (a map) once.
			return fmt.Errorf("partition column %q is listed twice (names are case-insensitive)", p)
		}
		seen[i] = true
		if i < 0 {
			return fmt.Errorf("partition column %q is not in the schema", p)
		}
		if t := c.Schema.Fields[i].Type.Name; t == "binary" || t == "float" || t == "double" {
			return fmt.Errorf("partition column %q has type %s, which cannot be a partition column", p, t)
		}
	}
	return nil
}

// supportedWriterFeatures are table features this writer honours.
var supportedWriterFeatures = map[string]bool{"appendOnly": true}

// CheckProtocol refuses tables whose protocol this writer cannot honour.
func CheckProtocol(p Protocol) error {
	if p.MinReaderVersion > 1 && p.MinReaderVersion != 3 {
		return fmt.Errorf("table needs reader version %d (column mapping or newer), which this writer does not support", p.MinReaderVersion)
	}
	if p.MinReaderVersion == 3 && len(p.ReaderFeatures) > 0 {
		return fmt.Errorf("table needs reader features %v, which this writer does not support", p.ReaderFeatures)
	}
	switch {
	case p.MinWriterVersion <= 2:
		return nil
	case p.MinWriterVersion == 7:
		var bad []string
		for _, f := range p.WriterFeatures {
			if !supportedWriterFeatures[f] {
				bad = append(bad, f)
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("table needs writer features %v, which this writer does not support", bad)
		}
		return nil
	default:
		return fmt.Errorf("table needs writer version %d (check constraints, generated columns, CDF, ...), which this writer does not support; it writes protocol (1,2)", p.MinWriterVersion)
	}
}

// Table is an open Delta table with a cached snapshot.
type Table struct {
	st   objstore.Store
	snap *Snapshot
}

// Store is the table's storage.
func (t *Table) Store() objstore.Store { return t.st }

// Open opens an existing table (ErrNoTable if there is none).
func Open(ctx context.Context, st objstore.Store) (*Table, error) {
	s, err := LoadSnapshot(ctx, st)
	if err != nil {
		return nil, err
	}
	return &Table{st: st, snap: s}, nil
}

// Snapshot refreshes and returns a copy of the latest state.
func (t *Table) Snapshot(ctx context.Context) (*Snapshot, error) {
	if _, err := t.snap.Update(ctx, t.st); err != nil {
		return nil, err
	}
	return t.snap.Clone(), nil
}

// createVisibleRetries bounds the looks for a version 0 whose creation we
// lost (10 ms doubling: ~10 s in all).
const createVisibleRetries = 10

// CreateOrOpen creates the table (version 0, put-if-absent) or opens and
// validates an existing one against cfg. Losing the creation race to another
// writer falls through to validation of the winner's table.
func CreateOrOpen(ctx context.Context, st objstore.Store, cfg TableConfig, now func() time.Time) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	snap, err := LoadSnapshot(ctx, st)
	if errors.Is(err, ErrNoTable) {
		cerr := createTable(ctx, st, cfg, now())
		if cerr != nil && !errors.Is(cerr, objstore.ErrExists) {
			return nil, cerr
		}
		snap, err = LoadSnapshot(ctx, st)
		// Lost the creation race, yet no version 0 is listed: some S3
		// servers (versitygw) refuse the conditional PUT a moment before
		// they list the winner's object. It exists: look again.
		backoff := 10 * time.Millisecond
		for i := 0; errors.Is(err, ErrNoTable) && cerr != nil && i < createVisibleRetries; i++ {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			backoff *= 2
			snap, err = LoadSnapshot(ctx, st)
		}
	}
	if err != nil {
		return nil, err
	}
	t := &Table{st: st, snap: snap}
	if err := t.validate(ctx, cfg, now); err != nil {
		return nil, err
	}
	return t, nil
}

func createTable(ctx context.Context, st objstore.Store, cfg TableConfig, now time.Time) error {
	ms := now.UnixMilli()
	props := map[string]string{}
	for k, v := range cfg.Properties {
		props[k] = v
	}
	parts := append([]string{}, cfg.PartitionColumns...)
	acts := []Action{
		{CommitInfo: CommitInfo{
			"timestamp": ms, "operation": "CREATE TABLE", "engineInfo": EngineInfo, "txnId": uuid.NewString(),
			"operationParameters": map[string]any{"partitionBy": jsonString(parts), "properties": jsonString(props)},
			"isBlindAppend":       true,
		}},
		{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{MetaData: &Metadata{
			ID: uuid.NewString(), Name: cfg.Name, Format: Format{Provider: "parquet", Options: map[string]string{}},
			SchemaString: cfg.Schema.SchemaString(), PartitionColumns: parts, Configuration: props, CreatedTime: &ms,
		}},
	}
	body, err := EncodeCommit(acts)
	if err != nil {
		return err
	}
	return st.PutIfAbsent(ctx, CommitKey(0), body)
}

// validate compares an existing table with cfg and, with schema evolution,
// commits the added columns.
func (t *Table) validate(ctx context.Context, cfg TableConfig, now func() time.Time) error {
	s := t.snap
	if err := CheckProtocol(s.Protocol); err != nil {
		return fmt.Errorf("delta table %s: %w", t.st.URL(), err)
	}
	if !sameColumns(s.Metadata.PartitionColumns, cfg.PartitionColumns) {
		return fmt.Errorf("delta table %s: partition columns are %v in the table but %v in the config", t.st.URL(), s.Metadata.PartitionColumns, cfg.PartitionColumns)
	}
	merged, err := CompareSchemas(s.Schema, cfg.Schema, cfg.SchemaEvolution)
	if err != nil {
		return fmt.Errorf("delta table %s: %w", t.st.URL(), err)
	}
	if len(merged.Fields) == len(s.Schema.Fields) {
		return nil
	}
	md := s.Metadata
	md.SchemaString = merged.SchemaString()
	txnID := uuid.NewString()
	_, err = commitLoop(ctx, t.st, t.snap, ReadSet{}, txnID, func(int64) ([]Action, error) {
		return []Action{
			{CommitInfo: CommitInfo{"timestamp": now().UnixMilli(), "operation": "ADD COLUMNS", "engineInfo": EngineInfo, "txnId": txnID}},
			{MetaData: &md},
		}, nil
	}, CommitPolicy{}, CommitEvents{})
	return err
}

func sameColumns(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}
