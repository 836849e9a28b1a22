package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// ReadAllRows returns every live row of the table at st, each as a map from
// column name to value: string, int64 (long/integer/short/byte), float64
// (double/float), bool, []byte, time.Time UTC (date, timestamp), or a decimal
// as its exact text; nil for null. Partition values come from the log.
func ReadAllRows(ctx context.Context, st objstore.Store) ([]map[string]any, error) {
	snap, err := LoadSnapshot(ctx, st)
	if err != nil {
		return nil, err
	}
	return snap.ReadRows(ctx, st)
}

// ReadRows reads the live files of s. Tables that need reader features
// (column mapping, deletion vectors, ...) are refused rather than misread.
func (s *Snapshot) ReadRows(ctx context.Context, st objstore.Store) ([]map[string]any, error) {
	if p := s.Protocol; p.MinReaderVersion == 2 || p.MinReaderVersion > 3 || len(p.ReaderFeatures) > 0 {
		return nil, fmt.Errorf("delta: table needs reader version %d %v, which this reader does not support", p.MinReaderVersion, p.ReaderFeatures)
	}
	var out []map[string]any
	for _, a := range s.LiveFiles() {
		rows, err := s.ReadFile(ctx, st, a)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// ReadFile reads one data file of the snapshot.
func (s *Snapshot) ReadFile(ctx context.Context, st objstore.Store, a Add) ([]map[string]any, error) {
	key, err := DecodePath(a.Path)
	if err != nil {
		return nil, err
	}
	data, err := st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("delta: data file %s: %w", key, err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("delta: data file %s: %w", key, err)
	}
	// Map parquet leaves to table columns by name, and note the unit of
	// INT64 timestamps (other writers may use millis or nanos).
	leafField := map[int]int{}
	leafUnit := map[int]time.Duration{}
	for leaf, path := range f.Schema().Columns() {
		if len(path) == 1 {
			if i := s.Schema.Index(path[0]); i >= 0 {
				leafField[leaf] = i
				if col, ok := f.Schema().Lookup(path...); ok {
					leafUnit[leaf] = timestampUnit(col.Node)
				}
			}
		}
	}
	base := map[string]any{}
	for _, fld := range s.Schema.Fields {
		base[fld.Name] = nil
	}
	for _, c := range s.Metadata.PartitionColumns {
		i := s.Schema.Index(c)
		if i < 0 {
			continue
		}
		var sv *string
		if v, ok := a.PartitionValues[c]; ok {
			sv = &v
		}
		v, err := ParsePartitionValue(s.Schema.Fields[i].Type, sv)
		if err != nil {
			return nil, fmt.Errorf("delta: %s: partition value %s: %w", key, c, err)
		}
		base[s.Schema.Fields[i].Name] = publicValue(s.Schema.Fields[i].Type, v)
	}
	var out []map[string]any
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 128)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				m := make(map[string]any, len(base))
				for k, v := range base {
					m[k] = v
				}
				for _, v := range row {
					fi, ok := leafField[v.Column()]
					if !ok || v.IsNull() {
						continue
					}
					fld := s.Schema.Fields[fi]
					m[fld.Name] = fromParquet(fld.Type, v, leafUnit[v.Column()])
				}
				out = append(out, m)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rr.Close()
				return nil, fmt.Errorf("delta: read %s: %w", key, err)
			}
		}
		rr.Close()
	}
	return out, nil
}

// timestampUnit is the unit of an INT64 TIMESTAMP leaf (micros if unknown).
func timestampUnit(n parquet.Node) time.Duration {
	if lt := n.Type().LogicalType(); lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
			return ts.Unit.Value.Duration()
		}
	}
	if ct := n.Type().ConvertedType(); ct != nil && *ct == deprecated.TimestampMillis {
		return time.Millisecond
	}
	return time.Microsecond
}

// int96Time decodes a legacy INT96 timestamp (nanos of day, Julian day), as
// Spark writes by default.
func int96Time(i deprecated.Int96) time.Time {
	nanos := int64(i[1])<<32 | int64(i[0])
	days := int64(i[2]) - 2440588 // Julian day of 1970-01-01
	return time.Unix(days*86400, nanos).UTC()
}

// fromParquet converts a parquet value to the public form ReadAllRows uses;
// unit is the INT64 timestamp unit of the column.
func fromParquet(t Type, v parquet.Value, unit time.Duration) any {
	switch t.Name {
	case "string":
		return string(v.ByteArray())
	case "binary":
		return append([]byte(nil), v.ByteArray()...)
	case "long", "integer", "short", "byte":
		if v.Kind() == parquet.Int32 {
			return int64(v.Int32())
		}
		return v.Int64()
	case "double":
		if v.Kind() == parquet.Float {
			return float64(v.Float())
		}
		return v.Double()
	case "float":
		return float64(v.Float())
	case "boolean":
		return v.Boolean()
	case "date":
		return time.Unix(int64(v.Int32())*86400, 0).UTC()
	case "timestamp":
		if v.Kind() == parquet.Int96 {
			return int96Time(v.Int96())
		}
		switch unit {
		case time.Millisecond:
			return time.UnixMilli(v.Int64()).UTC()
		case time.Nanosecond:
			return time.Unix(0, v.Int64()).UTC()
		}
		return time.UnixMicro(v.Int64()).UTC()
	case "decimal":
		var u *big.Int
		switch v.Kind() {
		case parquet.Int32:
			u = big.NewInt(int64(v.Int32()))
		case parquet.Int64:
			u = big.NewInt(v.Int64())
		default:
			b := v.ByteArray()
			u = new(big.Int).SetBytes(b)
			if len(b) > 0 && b[0]&0x80 != 0 {
				u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			}
		}
		return FormatDecimal(u, t.Scale)
	}
	return v.String()
}

// publicValue converts an internal value (as ConvertValue returns) to the
// ReadAllRows form.
func publicValue(t Type, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int32:
		if t.Name == "date" {
			return time.Unix(int64(x)*86400, 0).UTC()
		}
		return int64(x)
	case int64:
		if t.Name == "timestamp" {
			return time.UnixMicro(x).UTC()
		}
		return x
	case float32:
		return float64(x)
	case *big.Int:
		return FormatDecimal(x, t.Scale)
	}
	return v
}

// FormatValue renders a ReadAllRows value for display.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format("2006-01-02")
		}
		return x.Format("2006-01-02 15:04:05.999999")
	case []byte:
		return fmt.Sprintf("0x%x", x)
	case string:
		return x
	}
	return strings.TrimSpace(fmt.Sprint(v))
}
