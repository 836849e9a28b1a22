package typed

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/miaradia/rides-connect/internal/box"
	"github.com/miaradia/rides-connect/plugins/textcase"
)

// Parser parses records against a schema. It is safe for concurrent use.
type Parser struct {
	schema  *Schema
	scratch sync.Pool // *scratch
}

// scratch is one goroutine's reusable state.
type scratch struct {
	raws []raw
	esc  []byte // decoded escaped strings of the current record (scanner.esc)
	// strs[i] caches string field i's values as read → boxed output, so a
	// value that repeats (a city) costs no copy and no boxing; at most
	// internMax per field, after which new values are no longer cached.
	strs []map[string]any
	// box holds the output's numbers and timestamps, many records to an
	// allocation (internal/box).
	box box.Slab
}

// internMax bounds each string field's cache: a field of few distinct values
// fits, one of unique values stops filling it.
const internMax = 256

// kind is what a field's JSON value is, before the schema types it.
type kind uint8

const (
	kNull kind = iota // null or missing
	kNumber
	kString
	kBool
	kOther // object or array
)

// raw is a field's JSON value. text is the number literal or the decoded
// string; on the fast path it points into the record or the scratch buffer,
// so it is copied before it is kept.
type raw struct {
	kind kind
	text []byte
	b    bool
}

// NewParser returns a parser for s.
func NewParser(s *Schema) *Parser {
	p := &Parser{schema: s}
	p.scratch.New = func() any {
		n := len(s.fields)
		return &scratch{raws: make([]raw, n), strs: make([]map[string]any, n)}
	}
	return p
}

// Parse reads one record: a JSON object whose schema fields are typed and
// transformed into a map of exactly those fields (a missing optional field is
// nil; fields not in the schema are left out). A record that does not fit
// gives an *Error; the first misfit in schema order names it, except that
// every missing required field is named at once.
func (p *Parser) Parse(b []byte) (map[string]any, error) {
	sc := p.scratch.Get().(*scratch)
	defer p.scratch.Put(sc)
	handled, err := p.fast(sc, b)
	if !handled {
		err = p.slow(sc, b)
	}
	if err != nil {
		return nil, err
	}
	return p.convert(sc)
}

// fast reads the fields in one pass (scan.go). It takes only records where
// it and encoding/json (which Benthos and so Bloblang parse with) agree byte
// for byte; anything else, invalid JSON included, goes to the slow path,
// which decides.
func (p *Parser) fast(sc *scratch, b []byte) (handled bool, err error) {
	s := scanner{b: b, names: p.schema.fields, raws: sc.raws, esc: sc.esc[:0]}
	ok, isObject := s.record()
	sc.esc = s.esc
	if ok && !isObject {
		return true, errNotObject
	}
	return ok, nil
}

// slow reads the record exactly as Benthos does (encoding/json, numbers kept
// as literals, one document), for the records the fast path does not take.
func (p *Parser) slow(sc *scratch, b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return errNotObject
	}
	var more json.RawMessage
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return errNotObject // trailing data
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return errNotObject
	}
	for i, f := range p.schema.fields {
		sc.raws[i] = fromAny(m[f.Name])
	}
	return nil
}

func fromAny(v any) raw {
	switch t := v.(type) {
	case nil:
		return raw{}
	case json.Number:
		return raw{kind: kNumber, text: []byte(t)}
	case string:
		return raw{kind: kString, text: []byte(t)}
	case bool:
		return raw{kind: kBool, b: t}
	default:
		return raw{kind: kOther}
	}
}

// convert types the raw values into the output map.
func (p *Parser) convert(sc *scratch) (map[string]any, error) {
	fields := p.schema.fields
	var missing []string
	for i, f := range fields {
		if f.Required && sc.raws[i].kind == kNull {
			missing = append(missing, f.Name)
		}
	}
	if missing != nil {
		return nil, &Error{Reason: ReasonMissingField, Detail: "missing or null: " + strings.Join(missing, ", ")}
	}
	out := make(map[string]any, len(fields))
	for i, f := range fields {
		r := sc.raws[i]
		if r.kind == kNull {
			out[f.Name] = nil
			continue
		}
		var v any
		var ok bool
		if f.Type == String && r.kind == kString {
			v, ok = sc.str(i, r.text, f.Transform), true
		} else {
			v, ok = p.value(&sc.box, f, r)
		}
		if !ok {
			if f.Type == Timestamp && r.kind == kString {
				return nil, &Error{Reason: ReasonBadTimestamp, Detail: "not an ISO-8601 timestamp: " + string(r.text)}
			}
			return nil, p.schema.typeErr[i]
		}
		out[f.Name] = v
	}
	return out, nil
}

func (p *Parser) value(bx *box.Slab, f Field, r raw) (any, bool) {
	switch f.Type {
	case Long:
		if r.kind == kNumber {
			if n, ok := parseLong(r.text); ok {
				return bx.Int64(n), true
			}
			return nil, false
		}
	case Double:
		if r.kind == kNumber {
			d, ok := parseDouble(r.text)
			if !ok {
				return nil, false
			}
			return bx.Float64(d), true
		}
	case String:
		if r.kind == kString {
			return transform(r.text, f.Transform), true
		}
	case Boolean:
		if r.kind == kBool {
			return r.b, true
		}
	case Timestamp:
		if r.kind == kString {
			if isCanonical(string(r.text)) {
				return bx.String(r.text), true
			}
			var buf [32]byte
			if c, ok := canonicalize(buf[:0], r.text); ok {
				return bx.String(c), true
			}
			t, ok := ParseTimestamp(string(r.text))
			if !ok {
				return nil, false
			}
			return FormatTimestamp(t), true
		}
	}
	return nil, false
}

// str returns string field i's output for the value b, from the field's
// cache when b was seen before. The lookup by string(b) does not copy b.
func (sc *scratch) str(i int, b []byte, t Transform) any {
	c := sc.strs[i]
	if v, ok := c[string(b)]; ok {
		return v
	}
	var v any = transform(b, t)
	if len(c) < internMax {
		if c == nil {
			c = make(map[string]any)
			sc.strs[i] = c
		}
		c[string(b)] = v
	}
	return v
}

// transform copies b into a string with the field's transform: ASCII is
// case-mapped while copying (one allocation, the same result as the full
// Unicode mapping), anything else by plugins/textcase.
func transform(b []byte, t Transform) string {
	if t == NoTransform || !isASCII(b) {
		switch s := string(b); t {
		case UpperUnicode:
			return textcase.Upper(s)
		case LowerUnicode:
			return textcase.Lower(s)
		default:
			return s
		}
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		switch {
		case t == UpperUnicode && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case t == LowerUnicode && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
