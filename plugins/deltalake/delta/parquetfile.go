package delta

import (
	"bytes"
	"fmt"
	"math/big"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Codec returns the parquet codec for a config name (zstd, snappy,
// uncompressed) and the file-name infix Spark uses.
func Codec(name string) (compress.Codec, string, error) {
	switch name {
	case "", "zstd":
		return &zstd.Codec{}, "zstd", nil
	case "snappy":
		return &snappy.Codec{}, "snappy", nil
	case "none", "uncompressed":
		return nil, "", nil
	}
	return nil, "", fmt.Errorf("compression %q not supported; want zstd, snappy or uncompressed", name)
}

// parquetNode maps a Delta type to its parquet leaf (PROTOCOL.md appendix):
// timestamp is INT64 TIMESTAMP(MICROS, UTC) because Spark rejects NANOS.
func parquetNode(t Type) parquet.Node {
	switch t.Name {
	case "string":
		return parquet.String()
	case "long":
		return parquet.Int(64)
	case "integer":
		return parquet.Int(32)
	case "short":
		return parquet.Int(16)
	case "byte":
		return parquet.Int(8)
	case "double":
		return parquet.Leaf(parquet.DoubleType)
	case "float":
		return parquet.Leaf(parquet.FloatType)
	case "boolean":
		return parquet.Leaf(parquet.BooleanType)
	case "binary":
		return parquet.Leaf(parquet.ByteArrayType)
	case "date":
		return parquet.Date()
	case "timestamp":
		return parquet.Timestamp(parquet.Microsecond)
	case "decimal":
		switch {
		case t.Precision <= 9:
			return parquet.Decimal(t.Scale, t.Precision, parquet.Int32Type)
		case t.Precision <= 18:
			return parquet.Decimal(t.Scale, t.Precision, parquet.Int64Type)
		default:
			return parquet.Decimal(t.Scale, t.Precision, parquet.FixedLenByteArrayType(decimalBytes(t.Precision)))
		}
	}
	panic("delta: no parquet type for " + t.String())
}

// decimalBytes is the smallest two's-complement width holding 10^p-1.
func decimalBytes(p int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)
	for n := 1; ; n++ {
		if new(big.Int).Lsh(big.NewInt(1), uint(8*n-1)).Cmp(limit) >= 0 {
			return n
		}
	}
}

// fileSchema is the parquet schema of the data columns (partition columns are
// not stored in the files, as Spark does). Leaves are ordered by name
// (parquet.Group sorts); readers resolve columns by name.
type fileSchema struct {
	schema  *parquet.Schema
	columns []int // schema field index of each parquet leaf, in leaf order
}

func newFileSchema(s Schema, partitionCols []string) *fileSchema {
	g := parquet.Group{}
	byName := map[string]int{}
	for i, f := range s.Fields {
		if containsFold(partitionCols, f.Name) {
			continue
		}
		n := parquetNode(f.Type)
		if f.Nullable {
			n = parquet.Optional(n)
		} else {
			n = parquet.Required(n)
		}
		g[f.Name] = n
		byName[f.Name] = i
	}
	ps := parquet.NewSchema("spark_schema", g)
	fs := &fileSchema{schema: ps}
	for _, path := range ps.Columns() {
		fs.columns = append(fs.columns, byName[path[0]])
	}
	return fs
}

// parquetValue converts an internal value for a leaf.
func parquetValue(t Type, v any) parquet.Value {
	switch x := v.(type) {
	case string:
		return parquet.ByteArrayValue([]byte(x))
	case []byte:
		return parquet.ByteArrayValue(x)
	case int64:
		return parquet.Int64Value(x)
	case int32:
		return parquet.Int32Value(x)
	case float64:
		return parquet.DoubleValue(x)
	case float32:
		return parquet.FloatValue(x)
	case bool:
		return parquet.BooleanValue(x)
	case *big.Int:
		switch {
		case t.Precision <= 9:
			return parquet.Int32Value(int32(x.Int64()))
		case t.Precision <= 18:
			return parquet.Int64Value(x.Int64())
		default:
			return parquet.FixedLenByteArrayValue(twosComplement(x, decimalBytes(t.Precision)))
		}
	}
	panic(fmt.Sprintf("delta: unexpected internal value %T", v))
}

// twosComplement encodes u big-endian in n bytes.
func twosComplement(u *big.Int, n int) []byte {
	out := make([]byte, n)
	if u.Sign() >= 0 {
		u.FillBytes(out)
		return out
	}
	m := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(8*n)), u)
	m.FillBytes(out)
	return out
}

// WriteParquet encodes rows as one parquet file (DataPageV1) and returns
// its bytes and stats.
func WriteParquet(s Schema, partitionCols []string, rows []Row, codec compress.Codec, statsCols StatsColumns) ([]byte, *FileStats, error) {
	fs := newFileSchema(s, partitionCols)
	opts := []parquet.WriterOption{
		fs.schema,
		parquet.DataPageVersion(1),
		parquet.CreatedBy("rides-connect", "1", ""),
	}
	if codec != nil {
		opts = append(opts, parquet.Compression(codec))
	}
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, opts...)
	st := newStatsCollector(s, partitionCols, statsCols)
	const chunk = 1024
	batch := make([]parquet.Row, 0, chunk)
	vals := make([]parquet.Value, chunk*len(fs.columns))
	flush := func() error {
		if _, err := w.WriteRows(batch); err != nil {
			return fmt.Errorf("delta: write parquet rows: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	for _, r := range rows {
		n := len(batch) * len(fs.columns)
		prow := parquet.Row(vals[n : n+len(fs.columns) : n+len(fs.columns)])
		for leaf, fi := range fs.columns {
			f := s.Fields[fi]
			v := r[fi]
			if v == nil {
				if !f.Nullable {
					return nil, nil, &RowError{f.Name, "null, and the column is not nullable"}
				}
				prow[leaf] = parquet.Value{}.Level(0, 0, leaf)
				continue
			}
			def := 0
			if f.Nullable {
				def = 1
			}
			prow[leaf] = parquetValue(f.Type, v).Level(0, def, leaf)
		}
		batch = append(batch, prow)
		st.add(r)
		if len(batch) == chunk {
			if err := flush(); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return nil, nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, nil, fmt.Errorf("delta: close parquet: %w", err)
	}
	return buf.Bytes(), st.result(), nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
