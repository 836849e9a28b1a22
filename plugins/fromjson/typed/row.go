package typed

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// Row is a record parsed against a schema without the map: the values Parse
// would put in its map, by schema field, and JSON, the map as Benthos would
// serialise it. A reader that knows the schema (tumbling_window) takes the
// values by index; anything else reads JSON. Do not modify either.
type Row struct {
	JSON   []byte
	Schema *Schema
	Vals   []any
}

// Index is the position of the field named name in the schema, or -1.
func (s *Schema) Index(name string) int {
	for i, f := range s.fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Field is the value Parse's map holds under name (nil if the schema has no
// such field, as a lookup in the map gives).
func (r *Row) Field(name string) any {
	if i := r.Schema.Index(name); i >= 0 {
		return r.Vals[i]
	}
	return nil
}

const (
	rowsPerArray = 256
	jsonPerArray = 16 << 10
)

// ParseRow is Parse giving a Row: the same records fit, with the same errors,
// and the Row's JSON is byte for byte the encoding of Parse's map that
// Benthos makes (keys sorted, HTML characters not escaped).
func (p *Parser) ParseRow(b []byte) (*Row, error) {
	sc := p.scratch.Get().(*scratch)
	defer p.scratch.Put(sc)
	handled, err := p.fast(sc, b)
	if !handled {
		err = p.slow(sc, b)
	}
	if err != nil {
		return nil, err
	}
	n := len(p.schema.fields)
	if len(sc.slab)+n > cap(sc.slab) {
		sc.slab = make([]any, 0, max(rowsPerArray*n, n))
	}
	vals := sc.slab[len(sc.slab) : len(sc.slab)+n : len(sc.slab)+n]
	if err := p.typeAll(sc, vals); err != nil {
		clear(vals)
		return nil, err
	}
	sc.slab = sc.slab[:len(sc.slab)+n]
	if len(sc.rows) == cap(sc.rows) {
		sc.rows = make([]Row, 0, rowsPerArray)
	}
	sc.rows = append(sc.rows, Row{Schema: p.schema, Vals: vals})
	row := &sc.rows[len(sc.rows)-1]
	row.JSON = sc.appendJSON(p.schema, vals, sc.literal)
	return row, nil
}

// literal is the text encoding/json writes for field i's value when that is
// the record's own number literal (sc.raws, valid until the scratch goes
// back), so the number need not be formatted again; nil if it is not.
func (sc *scratch) literal(f Field, i int) []byte {
	r := sc.raws[i]
	if r.kind != kNumber {
		return nil
	}
	switch f.Type {
	case Long:
		if plainInt(r.text) {
			return r.text
		}
	case Double:
		if plainDouble(r.text) {
			return r.text
		}
	}
	return nil
}

// plainInt: an integer literal without sign tricks (-0), fraction or
// exponent is what strconv.AppendInt writes for its value.
func plainInt(t []byte) bool {
	if len(t) > 0 && t[0] == '-' {
		t = t[1:]
		if len(t) == 1 && t[0] == '0' {
			return false
		}
	}
	if len(t) == 0 {
		return false
	}
	return allDigits(t)
}

// plainDouble: a literal -?D+(.D*[1-9])? of at most 15 digits, not zero with
// a sign, and at least 1e-6 unless it is 0, is what encoding/json writes for
// its float64. At most 15 digits (DBL_DIG), no two such decimals round to
// the same float64, so the shortest digits that give the float back are the
// literal's own; and in [1e-6, 1e21) encoding/json writes them without an
// exponent, as the literal is.
func plainDouble(t []byte) bool {
	neg := len(t) > 0 && t[0] == '-'
	if neg {
		t = t[1:]
	}
	intPart, frac, hasFrac := bytes.Cut(t, []byte{'.'})
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') || !allDigits(intPart) {
		return false
	}
	if hasFrac && (len(frac) == 0 || frac[len(frac)-1] == '0' || !allDigits(frac)) {
		return false
	}
	digits := len(intPart) + len(frac)
	if intPart[0] == '0' {
		lead := len(frac) - len(bytes.TrimLeft(frac, "0"))
		if !hasFrac {
			return !neg // 0, not -0
		}
		if lead > 5 { // below 1e-6: written with an exponent
			return false
		}
		digits = len(frac) - lead
	}
	return digits <= 15
}

// appendJSON encodes the values as Benthos' encodeJSON encodes Parse's map,
// into the scratch's shared array (a record that does not fit in what is
// left of it starts a new one).
func (sc *scratch) appendJSON(s *Schema, vals []any, lit func(Field, int) []byte) []byte {
	if cap(sc.json)-len(sc.json) < 512 {
		sc.json = make([]byte, 0, jsonPerArray)
	}
	start := len(sc.json)
	out := s.appendJSON(sc.json, vals, lit)
	if &out[0] != &sc.json[:1][0] { // outgrew the array: out is a new one
		sc.json = out[len(out):]
		return out[start:len(out):len(out)]
	}
	sc.json = out
	return out[start:len(out):len(out)]
}

// appendJSON appends the object of the values, keys in sorted order; a
// value for which lit gives its text is written as that text.
func (s *Schema) appendJSON(b []byte, vals []any, lit func(Field, int) []byte) []byte {
	b = append(b, '{')
	for k, i := range s.sorted {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, s.keys[i]...)
		if t := lit(s.fields[i], i); t != nil && vals[i] != nil {
			b = append(b, t...)
		} else {
			b = appendValue(b, vals[i])
		}
	}
	return append(b, '}')
}

// appendValue writes v as encoding/json does with HTML escaping off.
func appendValue(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, t)
	case int64:
		return strconv.AppendInt(b, t, 10)
	case float64:
		return appendFloat(b, t)
	case bool:
		return strconv.AppendBool(b, t)
	}
	return appendEncoded(b, v) // no other type comes out of the parse
}

// appendFloat is encoding/json's float64 format: shortest digits, 'e' form
// outside [1e-6, 1e21) with a one-digit exponent kept as e-7, not e-07.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendEncoded(b, f) // never parsed from JSON
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString writes s quoted; a string needing any escape goes to
// encoding/json so the escapes are exactly its own.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendEncoded(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendEncoded is the slow path: encoding/json itself, as Benthos calls it.
func appendEncoded(b []byte, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return append(b, "null"...)
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
