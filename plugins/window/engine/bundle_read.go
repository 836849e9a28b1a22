package engine

import (
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Stage 2 reads every bundle of the internal topic, and with many keys
// encoding/json's reflection over them was a third of its time
// (docs/benchmarks.md, "Session 39"). bundleReader reads the JSON that
// EncodeBundle writes without reflection. On anything else — an unknown,
// repeated or escaped key, a \u escape, a null where a value must be, a
// number outside its field's range, invalid UTF-8 — it gives up and
// DecodeBundle falls back to encoding/json, so a bundle always decodes to
// what encoding/json makes of it (TestBundleReaderIsEncodingJSONs,
// FuzzBundleReader).
type bundleReader struct {
	b   []byte
	i   int
	bad bool
}

// readBundleJSON is data as encoding/json decodes it, or ok false.
func readBundleJSON(data []byte) (b Bundle, ok bool) {
	r := bundleReader{b: data}
	r.bundle(&b)
	if r.peek(); r.i != len(r.b) {
		r.bad = true
	}
	return b, !r.bad
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (r *bundleReader) peek() byte {
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return c
		}
	}
	return 0
}

func (r *bundleReader) expect(c byte) {
	if r.peek() != c {
		r.bad = true
		return
	}
	r.i++
}

// literal consumes lit if it comes next.
func (r *bundleReader) literal(lit string) bool {
	r.peek()
	if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
		r.i += len(lit)
		return true
	}
	return false
}

func (r *bundleReader) boolean() bool {
	switch {
	case r.literal("true"):
		return true
	case r.literal("false"):
		return false
	}
	r.bad = true
	return false
}

// str reads a string whose escapes are single characters (\" \\ \/ \b \f
// \n \r \t) and whose bytes are valid UTF-8: what encoding/json returns as
// they are. It returns same, not a copy, when equal.
func (r *bundleReader) str(same string) string {
	if r.peek() != '"' {
		r.bad = true
		return ""
	}
	r.i++
	start := r.i
	var buf []byte // nil until an escape
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			seg := r.b[start:r.i]
			r.i++
			if buf != nil {
				seg = append(buf, seg...)
			}
			if !utf8.Valid(seg) {
				r.bad = true
				return ""
			}
			if string(seg) == same {
				return same
			}
			return string(seg)
		case c == '\\':
			if r.i+1 >= len(r.b) {
				r.bad = true
				return ""
			}
			e := r.b[r.i+1]
			switch e {
			case '"', '\\', '/':
			case 'b':
				e = '\b'
			case 'f':
				e = '\f'
			case 'n':
				e = '\n'
			case 'r':
				e = '\r'
			case 't':
				e = '\t'
			default: // \u, or not an escape
				r.bad = true
				return ""
			}
			buf = append(append(buf, r.b[start:r.i]...), e)
			r.i += 2
			start = r.i
		case c < 0x20:
			r.bad = true
			return ""
		default:
			r.i++
		}
	}
	r.bad = true
	return ""
}

// key reads an object key with no escapes, then its colon.
func (r *bundleReader) key() string {
	if r.peek() != '"' {
		r.bad = true
		return ""
	}
	start := r.i + 1
	for r.i = start; r.i < len(r.b) && r.b[r.i] != '"'; r.i++ {
		if r.b[r.i] == '\\' || r.b[r.i] < 0x20 {
			r.bad = true
			return ""
		}
	}
	if r.i >= len(r.b) {
		r.bad = true
		return ""
	}
	k := unsafe.String(unsafe.SliceData(r.b[start:]), r.i-start) // compared only, never kept
	r.i++
	r.expect(':')
	return k
}

// number reads a number in JSON's grammar; integer is false if it has a
// fraction or an exponent.
func (r *bundleReader) number() (text []byte, integer bool) {
	r.peek()
	b, i := r.b, r.i
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		r.bad = true
		return nil, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		i++
		integer = false
		if digits() == 0 {
			r.bad = true
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		integer = false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			r.bad = true
			return nil, false
		}
	}
	text, r.i = b[r.i:i], i
	return text, integer
}

// int reads an integer that fits in bits.
func (r *bundleReader) int(bits uint) int64 {
	t, integer := r.number()
	if r.bad || !integer {
		r.bad = true
		return 0
	}
	neg := t[0] == '-'
	if neg {
		t = t[1:]
	}
	var u uint64
	for _, c := range t {
		if u > (math.MaxUint64-9)/10 {
			r.bad = true
			return 0
		}
		u = u*10 + uint64(c-'0')
	}
	limit := uint64(1) << (bits - 1) // |min| of the type; max is limit-1
	if (!neg && u >= limit) || (neg && u > limit) {
		r.bad = true
		return 0
	}
	if neg {
		return -int64(u-1) - 1
	}
	return int64(u)
}

func (r *bundleReader) int32() int32 { return int32(r.int(32)) }

func (r *bundleReader) float() float64 {
	t, _ := r.number()
	if r.bad {
		return 0
	}
	// ParseFloat keeps its argument only in an error, which is dropped.
	x, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(t), len(t)), 64)
	if err != nil {
		r.bad = true
	}
	return x
}

// open starts an object: false if it is empty (or not an object).
func (r *bundleReader) open() bool {
	r.expect('{')
	if r.bad {
		return false
	}
	if r.peek() == '}' {
		r.i++
		return false
	}
	return true
}

// next follows a value in an object (end '}') or an array (end ']'):
// true if another comes.
func (r *bundleReader) next(end byte) bool {
	switch r.peek() {
	case ',':
		r.i++
		return true
	case end:
		r.i++
		return false
	}
	r.bad = true
	return false
}

// once marks field bit as seen; a second time gives up (encoding/json
// would merge a repeated object into the first).
func (r *bundleReader) once(seen *uint32, bit uint) {
	if *seen&(1<<bit) != 0 {
		r.bad = true
	}
	*seen |= 1 << bit
}

// array starts an array: null is a nil slice, [] an empty one, as
// encoding/json's; more is false if no element follows.
func (r *bundleReader) array() (more, null bool) {
	if r.literal("null") {
		return false, true
	}
	r.expect('[')
	if r.bad {
		return false, false
	}
	if r.peek() == ']' {
		r.i++
		return false, false
	}
	return true, false
}

func (r *bundleReader) bundle(b *Bundle) {
	var seen uint32
	for more := r.open(); more && !r.bad; more = r.next('}') {
		switch r.key() {
		case "source":
			r.once(&seen, 0)
			r.marker(&b.Source)
		case "from_us":
			r.once(&seen, 1)
			b.From = r.int(64)
		case "to_us":
			r.once(&seen, 2)
			b.To = r.int(64)
		case "shard":
			r.once(&seen, 3)
			b.Shard = r.int32()
		case "shards":
			r.once(&seen, 4)
			b.Shards = r.int32()
		case "part":
			r.once(&seen, 5)
			b.Part = r.int32()
		case "parts":
			r.once(&seen, 6)
			b.Parts = r.int32()
		case "partials":
			r.once(&seen, 7)
			more, null := r.array()
			if null {
				break
			}
			b.Partials = []Partial{}
			config := "" // every partial of a bundle has its writer's config: one string
			for ; more && !r.bad; more = r.next(']') {
				b.Partials = append(b.Partials, Partial{})
				p := &b.Partials[len(b.Partials)-1]
				r.partial(p, config)
				config = p.Config
			}
		default:
			r.bad = true
		}
	}
}

func (r *bundleReader) marker(m *Marker) {
	var seen uint32
	for more := r.open(); more && !r.bad; more = r.next('}') {
		switch r.key() {
		case "topic":
			r.once(&seen, 0)
			m.Topic = r.str("")
		case "partition":
			r.once(&seen, 1)
			m.Partition = r.int32()
		case "partitions":
			r.once(&seen, 2)
			m.Partitions = r.int32()
		case "max_ms":
			r.once(&seen, 3)
			m.MaxMs = r.int(64)
		case "offset":
			r.once(&seen, 4)
			m.Offset = r.int(64)
		case "idle":
			r.once(&seen, 5)
			m.Idle = r.boolean()
		case "empty":
			r.once(&seen, 6)
			m.Empty = r.boolean()
		default:
			r.bad = true
		}
	}
}

// partial reads one partial; config is the previous one's Config, reused
// when equal.
func (r *bundleReader) partial(p *Partial, config string) {
	var seen uint32
	for more := r.open(); more && !r.bad; more = r.next('}') {
		switch r.key() {
		case "start_us":
			r.once(&seen, 0)
			p.StartUs = r.int(64)
		case "key":
			r.once(&seen, 1)
			p.Key = r.str("")
		case "rows":
			r.once(&seen, 2)
			p.Rows = r.int(64)
		case "aggs":
			r.once(&seen, 3)
			more, null := r.array()
			if null {
				break
			}
			p.Aggs = make([]acc, 0, 4)
			for ; more && !r.bad; more = r.next(']') {
				p.Aggs = append(p.Aggs, acc{})
				r.acc(&p.Aggs[len(p.Aggs)-1])
			}
		case "config":
			r.once(&seen, 4)
			p.Config = r.str(config)
		default:
			r.bad = true
		}
	}
}

func (r *bundleReader) acc(a *acc) {
	var seen uint32
	for more := r.open(); more && !r.bad; more = r.next('}') {
		switch r.key() {
		case "sum":
			r.once(&seen, 0)
			r.sum(&a.Sum)
		case "n":
			r.once(&seen, 1)
			a.N = r.int(64)
		case "lo":
			r.once(&seen, 2)
			a.Min = r.float()
		case "hi":
			r.once(&seen, 3)
			a.Max = r.float()
		case "s":
			r.once(&seen, 4)
			a.Legacy = r.float()
		default:
			r.bad = true
		}
	}
}

func (r *bundleReader) sum(s *exactSum) {
	var seen uint32
	for more := r.open(); more && !r.bad; more = r.next('}') {
		switch r.key() {
		case "p":
			r.once(&seen, 0)
			more, null := r.array()
			if null {
				break
			}
			s.P = make([]float64, 0, 2)
			for ; more && !r.bad; more = r.next(']') {
				s.P = append(s.P, r.float())
			}
		case "of":
			r.once(&seen, 1)
			s.Overflow = r.boolean()
		default:
			r.bad = true
		}
	}
}
