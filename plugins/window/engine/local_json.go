package engine

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// A local stage 1 writes a bundle per window end and internal partition as
// JSON, the wire form every replica's stage 2 reads (its state is binary
// since session 39: local_statebin.go). With ~250 000 open groups (a job
// grouped by (city, userId)) encoding/json spent a third of its time in
// reflection and allocated ~3× the size (docs/benchmarks.md, "Many keys,
// two stages"). jsonAppender writes the same bytes as json.Marshal, field
// by field, so the format and every reader stay as they are
// (TestLocalJSONIsEncodingJSONs compares the two on random bundles).
type jsonAppender struct {
	b   []byte
	err error
}

// str appends s quoted and escaped as encoding/json does (HTML characters
// too, U+2028 and U+2029, invalid UTF-8 as U+FFFD).
func (w *jsonAppender) str(s string) {
	const hex = "0123456789abcdef"
	w.b = append(w.b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				w.b = append(w.b, s[start:i]...)
				w.b = append(w.b, `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				w.b = append(w.b, s[start:i]...)
				w.b = append(w.b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			i++
			continue
		}
		w.b = append(w.b, s[start:i]...)
		switch c {
		case '"', '\\':
			w.b = append(w.b, '\\', c)
		case '\b':
			w.b = append(w.b, '\\', 'b')
		case '\f':
			w.b = append(w.b, '\\', 'f')
		case '\n':
			w.b = append(w.b, '\\', 'n')
		case '\r':
			w.b = append(w.b, '\\', 'r')
		case '\t':
			w.b = append(w.b, '\\', 't')
		default:
			w.b = append(w.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}

func (w *jsonAppender) int(x int64) { w.b = strconv.AppendInt(w.b, x, 10) }

// float appends x as encoding/json does: the shortest representation, in
// exponent form below 1e-6 and from 1e21, with a one-digit negative
// exponent written without its leading zero. NaN and infinities are an
// error, as there.
func (w *jsonAppender) float(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		if w.err == nil {
			w.err = &json.UnsupportedValueError{Str: strconv.FormatFloat(x, 'g', -1, 64)}
		}
		w.b = append(w.b, '0')
		return
	}
	f := byte('f')
	if a := math.Abs(x); a != 0 && (a < 1e-6 || a >= 1e21) {
		f = 'e'
	}
	w.b = strconv.AppendFloat(w.b, x, f, -1, 64)
	if f == 'e' {
		// e-09 → e-9
		if n := len(w.b); n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
}

// array appends xs as a JSON array, each element written by elem.
func array[T any](w *jsonAppender, xs []T, elem func(*T)) {
	w.b = append(w.b, '[')
	for i := range xs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		elem(&xs[i])
	}
	w.b = append(w.b, ']')
}

// key appends `"name":`, preceded by a comma unless it opens the object.
func (w *jsonAppender) key(name string, first bool) {
	if !first {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonAppender) marker(m *Marker) {
	w.b = append(w.b, `{"topic":`...)
	w.str(m.Topic)
	w.key("partition", false)
	w.int(int64(m.Partition))
	w.key("partitions", false)
	w.int(int64(m.Partitions))
	w.key("max_ms", false)
	w.int(m.MaxMs)
	w.key("offset", false)
	w.int(m.Offset)
	if m.Idle {
		w.key("idle", false)
		w.b = append(w.b, "true"...)
	}
	if m.Empty {
		w.key("empty", false)
		w.b = append(w.b, "true"...)
	}
	w.b = append(w.b, '}')
}

func (w *jsonAppender) acc(a *acc) {
	w.b = append(w.b, `{"sum":{`...)
	first := true
	if len(a.Sum.P) > 0 {
		w.key("p", first)
		first = false
		array(w, a.Sum.P, func(x *float64) { w.float(*x) })
	}
	if a.Sum.Overflow {
		w.key("of", first)
		w.b = append(w.b, "true"...)
	}
	w.b = append(w.b, '}')
	w.key("n", false)
	w.int(a.N)
	w.key("lo", false)
	w.float(a.Min)
	w.key("hi", false)
	w.float(a.Max)
	if a.Legacy != 0 {
		w.key("s", false)
		w.float(a.Legacy)
	}
	w.b = append(w.b, '}')
}

func (w *jsonAppender) partial(start int64, key string, rows int64, aggs []acc, config string) {
	w.b = append(w.b, `{"start_us":`...)
	w.int(start)
	w.key("key", false)
	w.str(key)
	w.key("rows", false)
	w.int(rows)
	w.key("aggs", false)
	if aggs == nil {
		w.b = append(w.b, "null"...)
	} else {
		array(w, aggs, w.acc)
	}
	if config != "" {
		w.key("config", false)
		w.str(config)
	}
	w.b = append(w.b, '}')
}

func (w *jsonAppender) bundle(b *Bundle) {
	w.b = append(w.b, `{"source":`...)
	w.marker(&b.Source)
	w.key("from_us", false)
	w.int(b.From)
	w.key("to_us", false)
	w.int(b.To)
	w.key("shard", false)
	w.int(int64(b.Shard))
	w.key("shards", false)
	w.int(int64(b.Shards))
	if b.Part != 0 {
		w.key("part", false)
		w.int(int64(b.Part))
	}
	if b.Parts != 0 {
		w.key("parts", false)
		w.int(int64(b.Parts))
	}
	if len(b.Partials) > 0 {
		w.key("partials", false)
		array(w, b.Partials, func(p *Partial) { w.partial(p.StartUs, p.Key, p.Rows, p.Aggs, p.Config) })
	}
	w.b = append(w.b, '}')
}
