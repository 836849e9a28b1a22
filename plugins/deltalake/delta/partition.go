package delta

import (
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HiveDefaultPartition is the directory name Spark uses for a null value.
const HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// PartitionValue serialises an internal value as PROTOCOL.md "Partition
// Value Serialization" says; nil (and "") mean null.
func PartitionValue(t Type, v any) *string {
	if v == nil {
		return nil
	}
	var s string
	switch t.Name {
	case "string":
		s = v.(string)
		if s == "" {
			return nil
		}
	case "long":
		s = strconv.FormatInt(v.(int64), 10)
	case "integer", "short", "byte", "date":
		if t.Name == "date" {
			s = time.Unix(int64(v.(int32))*86400, 0).UTC().Format("2006-01-02")
		} else {
			s = strconv.FormatInt(int64(v.(int32)), 10)
		}
	case "double":
		s = strconv.FormatFloat(v.(float64), 'g', -1, 64)
	case "float":
		s = strconv.FormatFloat(float64(v.(float32)), 'g', -1, 32)
	case "boolean":
		s = strconv.FormatBool(v.(bool))
	case "binary":
		s = string(v.([]byte))
	case "timestamp":
		// ISO-8601 UTC with microseconds, the form the spec recommends.
		s = time.UnixMicro(v.(int64)).UTC().Format("2006-01-02T15:04:05.000000Z")
	case "decimal":
		s = FormatDecimal(v.(*big.Int), t.Scale)
	}
	return &s
}

// ParsePartitionValue reads a partitionValues entry back into the internal
// type (nil for null/empty).
func ParsePartitionValue(t Type, s *string) (any, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	switch t.Name {
	case "string":
		return *s, nil
	case "binary":
		return []byte(*s), nil
	case "double", "float":
		f, err := strconv.ParseFloat(*s, 64)
		if err != nil {
			return nil, err
		}
		return ConvertValue(t, f)
	case "long", "integer", "short", "byte":
		n, err := strconv.ParseInt(*s, 10, 64)
		if err != nil {
			return nil, err
		}
		return ConvertValue(t, n)
	case "boolean":
		return strconv.ParseBool(*s)
	default:
		return ConvertValue(t, *s)
	}
}

// escapePathName escapes a partition value for a Hive-style directory name
// the way Spark does (ExternalCatalogUtils.escapePathName): control chars and
// "#%'*/:=?\{[]^ and DEL become %XX.
func escapePathName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune("\"#%'*/:=?\\{[]^", r) {
			fmt.Fprintf(&b, "%%%02X", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// PartitionDir is the Hive-style relative directory for partition values,
// e.g. "date=2026-01-01/city=PARIS" (not URI-encoded).
func PartitionDir(cols []string, values map[string]*string) string {
	parts := make([]string, 0, len(cols))
	for _, c := range cols {
		v := values[c]
		dir := HiveDefaultPartition
		if v != nil && *v != "" {
			dir = escapePathName(*v)
		}
		parts = append(parts, escapePathName(c)+"="+dir)
	}
	return strings.Join(parts, "/")
}

// EncodePath URI-encodes a relative path for add.path (RFC 2396): each
// segment is escaped, so a '%' from Hive escaping becomes "%25".
func EncodePath(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// DecodePath turns add.path into an object key relative to the table root.
// Absolute URIs (shallow clones) are not supported.
func DecodePath(p string) (string, error) {
	if strings.Contains(p, "://") {
		return "", fmt.Errorf("absolute file path %q is not supported", p)
	}
	return url.PathUnescape(p)
}
