package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// Checkpoint rows follow the PROTOCOL.md "Checkpoint Schema" appendix: one
// nullable struct column per action kind, one action per row. Every field is
// optional (as Spark writes them); absent feature lists are null, never empty.
type ckptRow struct {
	Txn      *ckptTxn      `parquet:"txn,optional"`
	Add      *ckptAdd      `parquet:"add,optional"`
	Remove   *ckptRemove   `parquet:"remove,optional"`
	MetaData *ckptMetaData `parquet:"metaData,optional"`
	Protocol *ckptProtocol `parquet:"protocol,optional"`
}

type ckptTxn struct {
	AppID       *string `parquet:"appId,optional"`
	Version     *int64  `parquet:"version,optional"`
	LastUpdated *int64  `parquet:"lastUpdated,optional"`
}

type ckptAdd struct {
	Path             *string            `parquet:"path,optional"`
	PartitionValues  map[string]*string `parquet:"partitionValues,optional"`
	Size             *int64             `parquet:"size,optional"`
	ModificationTime *int64             `parquet:"modificationTime,optional"`
	DataChange       *bool              `parquet:"dataChange,optional"`
	Stats            *string            `parquet:"stats,optional"`
	Tags             map[string]*string `parquet:"tags,optional"`
}

type ckptRemove struct {
	Path                 *string            `parquet:"path,optional"`
	DeletionTimestamp    *int64             `parquet:"deletionTimestamp,optional"`
	DataChange           *bool              `parquet:"dataChange,optional"`
	ExtendedFileMetadata *bool              `parquet:"extendedFileMetadata,optional"`
	PartitionValues      map[string]*string `parquet:"partitionValues,optional"`
	Size                 *int64             `parquet:"size,optional"`
}

type ckptFormat struct {
	Provider *string            `parquet:"provider,optional"`
	Options  map[string]*string `parquet:"options,optional"`
}

type ckptMetaData struct {
	ID               *string            `parquet:"id,optional"`
	Name             *string            `parquet:"name,optional"`
	Description      *string            `parquet:"description,optional"`
	Format           *ckptFormat        `parquet:"format,optional"`
	SchemaString     *string            `parquet:"schemaString,optional"`
	PartitionColumns []string           `parquet:"partitionColumns,optional,list"`
	CreatedTime      *int64             `parquet:"createdTime,optional"`
	Configuration    map[string]*string `parquet:"configuration,optional"`
}

type ckptProtocol struct {
	MinReaderVersion *int32   `parquet:"minReaderVersion,optional"`
	MinWriterVersion *int32   `parquet:"minWriterVersion,optional"`
	ReaderFeatures   []string `parquet:"readerFeatures,optional,list"`
	WriterFeatures   []string `parquet:"writerFeatures,optional,list"`
}

func ptr[T any](v T) *T { return &v }

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// toNullableMap converts for checkpoint maps (map<string,string> with
// nullable values); "" becomes null, matching PartitionValues.
func toNullableMap(m map[string]string, emptyIsNull bool) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		if v == "" && emptyIsNull {
			out[k] = nil
		} else {
			out[k] = ptr(v)
		}
	}
	return out
}

func fromNullableMap(m map[string]*string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = deref(v)
	}
	return out
}

// checkpointRows renders a snapshot as checkpoint rows. Removes are kept as
// tombstones until retentionMs has passed (for VACUUM and stale readers).
func checkpointRows(s *Snapshot, nowMs, retentionMs int64) []ckptRow {
	rows := []ckptRow{
		{Protocol: &ckptProtocol{
			MinReaderVersion: ptr(int32(s.Protocol.MinReaderVersion)),
			MinWriterVersion: ptr(int32(s.Protocol.MinWriterVersion)),
			ReaderFeatures:   s.Protocol.ReaderFeatures,
			WriterFeatures:   s.Protocol.WriterFeatures,
		}},
		{MetaData: &ckptMetaData{
			ID:               ptr(s.Metadata.ID),
			Name:             strPtr(s.Metadata.Name),
			Description:      strPtr(s.Metadata.Description),
			Format:           &ckptFormat{Provider: ptr(s.Metadata.Format.Provider), Options: toNullableMap(s.Metadata.Format.Options, false)},
			SchemaString:     ptr(s.Metadata.SchemaString),
			PartitionColumns: append([]string{}, s.Metadata.PartitionColumns...),
			CreatedTime:      s.Metadata.CreatedTime,
			Configuration:    toNullableMap(s.Metadata.Configuration, false),
		}},
	}
	apps := make([]string, 0, len(s.Txns))
	for a := range s.Txns {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	for _, a := range apps {
		t := s.Txns[a]
		rows = append(rows, ckptRow{Txn: &ckptTxn{AppID: ptr(t.AppID), Version: ptr(t.Version), LastUpdated: t.LastUpdated}})
	}
	for _, a := range s.LiveFiles() {
		rows = append(rows, ckptRow{Add: &ckptAdd{
			Path: ptr(a.Path), PartitionValues: toNullableMap(a.PartitionValues, true), Size: ptr(a.Size),
			ModificationTime: ptr(a.ModificationTime), DataChange: ptr(a.DataChange),
			Stats: strPtr(a.Stats), Tags: tagsMap(a.Tags),
		}})
	}
	paths := make([]string, 0, len(s.Tombstones))
	for p := range s.Tombstones {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		r := s.Tombstones[p]
		if r.DeletionTimestamp != nil && *r.DeletionTimestamp < nowMs-retentionMs {
			continue // expired tombstone
		}
		rows = append(rows, ckptRow{Remove: &ckptRemove{
			Path: ptr(r.Path), DeletionTimestamp: r.DeletionTimestamp, DataChange: ptr(r.DataChange),
			ExtendedFileMetadata: ptr(r.ExtendedFileMetadata), PartitionValues: partsOrNil(r.PartitionValues), Size: r.Size,
		}})
	}
	return rows
}

// WriteCheckpoint writes the classic checkpoint for s.Version and then
// _last_checkpoint. The checkpoint file for a version has fixed content, so
// a plain overwrite by a concurrent writer is harmless.
func WriteCheckpoint(ctx context.Context, st objstore.Store, s *Snapshot, nowMs int64) error {
	rows := checkpointRows(s, nowMs, deletedFileRetention(s.Metadata.Configuration).Milliseconds())
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[ckptRow](&buf, parquet.Compression(&snappy.Codec{}), parquet.DataPageVersion(1),
		parquet.CreatedBy("rides-connect", "1", ""))
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("delta: checkpoint %d: %w", s.Version, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("delta: checkpoint %d: %w", s.Version, err)
	}
	if err := st.Put(ctx, CheckpointKey(s.Version), buf.Bytes()); err != nil {
		return err
	}
	adds := int64(len(s.Files))
	size := int64(buf.Len())
	lc, _ := json.Marshal(LastCheckpoint{Version: s.Version, Size: int64(len(rows)), NumOfAddFiles: &adds, SizeInBytes: &size})
	// Only move the hint forward.
	if old, err := readLastCheckpoint(ctx, st); err == nil && old != nil && old.Version > s.Version {
		return nil
	}
	return st.Put(ctx, lastCheckpointKey, lc)
}

func readCheckpoint(ctx context.Context, st objstore.Store, v int64) (*Snapshot, error) {
	b, err := st.Get(ctx, CheckpointKey(v))
	if err != nil {
		return nil, fmt.Errorf("delta: checkpoint %d: %w", v, err)
	}
	r := parquet.NewGenericReader[ckptRow](bytes.NewReader(b))
	defer r.Close()
	s := newSnapshot()
	buf := make([]ckptRow, 256)
	var acts []Action
	for {
		n, err := r.Read(buf)
		for _, row := range buf[:n] {
			acts = append(acts, row.action())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("delta: read checkpoint %d: %w", v, err)
		}
	}
	if err := s.apply(v, acts); err != nil {
		return nil, err
	}
	s.CheckpointVersion = v
	return s, nil
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

func (r ckptRow) action() Action {
	switch {
	case r.Protocol != nil:
		return Action{Protocol: &Protocol{
			MinReaderVersion: int(deref(r.Protocol.MinReaderVersion)), MinWriterVersion: int(deref(r.Protocol.MinWriterVersion)),
			ReaderFeatures: r.Protocol.ReaderFeatures, WriterFeatures: r.Protocol.WriterFeatures,
		}}
	case r.MetaData != nil:
		m := &Metadata{
			ID: deref(r.MetaData.ID), Name: deref(r.MetaData.Name), Description: deref(r.MetaData.Description),
			SchemaString: deref(r.MetaData.SchemaString), PartitionColumns: r.MetaData.PartitionColumns,
			Configuration: fromNullableMap(r.MetaData.Configuration), CreatedTime: r.MetaData.CreatedTime,
		}
		if r.MetaData.Format != nil {
			m.Format = Format{Provider: deref(r.MetaData.Format.Provider), Options: fromNullableMap(r.MetaData.Format.Options)}
		}
		return Action{MetaData: m}
	case r.Txn != nil:
		return Action{Txn: &Txn{AppID: deref(r.Txn.AppID), Version: deref(r.Txn.Version), LastUpdated: r.Txn.LastUpdated}}
	case r.Add != nil:
		return Action{Add: &Add{
			Path: deref(r.Add.Path), PartitionValues: fromNullableMap(r.Add.PartitionValues), Size: deref(r.Add.Size),
			ModificationTime: deref(r.Add.ModificationTime), DataChange: deref(r.Add.DataChange),
			Stats: deref(r.Add.Stats), Tags: tagsFromMap(r.Add.Tags),
		}}
	case r.Remove != nil:
		return Action{Remove: &Remove{
			Path: deref(r.Remove.Path), DeletionTimestamp: r.Remove.DeletionTimestamp, DataChange: deref(r.Remove.DataChange),
			ExtendedFileMetadata: deref(r.Remove.ExtendedFileMetadata), PartitionValues: partsFromMap(r.Remove.PartitionValues), Size: r.Remove.Size,
		}}
	}
	return Action{}
}

func tagsMap(m map[string]string) map[string]*string {
	if m == nil {
		return nil
	}
	return toNullableMap(m, false)
}

func tagsFromMap(m map[string]*string) map[string]string {
	if m == nil {
		return nil
	}
	return fromNullableMap(m)
}

func partsOrNil(p PartitionValues) map[string]*string {
	if p == nil {
		return nil
	}
	return toNullableMap(p, true)
}

func partsFromMap(m map[string]*string) PartitionValues {
	if m == nil {
		return nil
	}
	return fromNullableMap(m)
}
