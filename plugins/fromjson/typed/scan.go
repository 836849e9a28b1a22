package typed

import "unicode/utf8"

// scanner is the fast path's reader: one pass over a record that checks it is
// strict JSON (RFC 8259, as encoding/json reads it) and keeps the raw value of
// each schema field, where fastjson took four passes (\u search, UTF-8 check,
// validation, parse) and a tree. It gives up (ok false) on anything whose
// reading encoding/json could word or decode differently: invalid JSON, a \u
// escape anywhere, invalid UTF-8 in a string, an escaped key, a top level
// that is not an object, nesting deeper than maxDepth. The slow path then
// decides, so the fast path only ever takes records both read the same.
type scanner struct {
	b     []byte
	i     int
	names []Field
	raws  []raw
	// esc holds the decoded strings of this record that had escapes; a
	// slice taken before it grows still reads the old array.
	esc []byte
}

// maxDepth bounds nesting on the fast path (encoding/json allows 10 000).
const maxDepth = 64

// record reads the whole record: ok says the fast path takes it; isObject
// false is a valid JSON document that is not an object.
func (s *scanner) record() (ok, isObject bool) {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] != '{' {
		return s.skip(1) && s.end(), false
	}
	return s.object(), true
}

// object reads an object into s.raws (cleared first): the last value of a
// repeated key wins, as in encoding/json's map decoding.
func (s *scanner) object() bool {
	clear(s.raws)
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return s.end()
	}
	next := 0 // the schema field after the last one read: records usually list them in order
	for {
		key, ok := s.key()
		if !ok {
			return false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		field := s.field(key, next)
		next = field + 1
		if field < 0 {
			if !s.skip(1) {
				return false
			}
		} else if s.raws[field], ok = s.value(); !ok {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return s.end()
		default:
			return false
		}
	}
}

// field is the index of the schema field named key (-1: none), trying next
// first.
func (s *scanner) field(key []byte, next int) int {
	if next < len(s.names) && string(key) == s.names[next].Name {
		return next
	}
	for f := range s.names {
		if string(key) == s.names[f].Name {
			return f
		}
	}
	return -1
}

// end accepts only trailing whitespace.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// key reads an object key without escapes (one with escapes goes slow).
func (s *scanner) key() ([]byte, bool) {
	text, escaped, ok := s.str()
	return text, ok && !escaped
}

// value reads a captured field's value.
func (s *scanner) value() (raw, bool) {
	if s.i >= len(s.b) {
		return raw{}, false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		text, escaped, ok := s.str()
		if ok && escaped {
			text = s.unescape(text)
		}
		return raw{kind: kString, text: text}, ok
	case c == '-' || '0' <= c && c <= '9':
		start := s.i
		ok := s.number()
		return raw{kind: kNumber, text: s.b[start:s.i:s.i]}, ok
	case c == 't':
		return raw{kind: kBool, b: true}, s.lit("true")
	case c == 'f':
		return raw{kind: kBool}, s.lit("false")
	case c == 'n':
		return raw{}, s.lit("null")
	case c == '{' || c == '[':
		return raw{kind: kOther}, s.skip(1)
	}
	return raw{}, false
}

// skip checks a value that is not kept, at nesting depth.
func (s *scanner) skip(depth int) bool {
	if s.i >= len(s.b) || depth > maxDepth {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '{':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return true
		}
		for {
			if _, _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return false
			}
			s.i++
			s.ws()
			if !s.skip(depth + 1) {
				return false
			}
			if more, ok := s.next('}'); !more {
				return ok
			}
			s.ws()
		}
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if more, ok := s.next(']'); !more {
				return ok
			}
			s.ws()
		}
	}
	return false
}

// next reads what follows a member or element: ',' (more) or the closing
// byte (done, ok).
func (s *scanner) next(closing byte) (more, ok bool) {
	s.ws()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return true, true
	case closing:
		s.i++
		return false, true
	}
	return false, false
}

func (s *scanner) lit(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// str reads a string at s.i. text is its raw bytes between the quotes;
// escaped says it holds escapes (checked: one of \" \\ \/ \b \f \n \r \t).
func (s *scanner) str() (text []byte, escaped, ok bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	ascii := true
	for i := start; ; i++ {
		for i < len(b) && !strStop[b[i]] {
			i++
		}
		if i >= len(b) {
			return nil, false, false
		}
		switch c := b[i]; {
		case c == '"':
			text = b[start:i:i]
			s.i = i + 1
			return text, escaped, ascii || utf8.Valid(text)
		case c == '\\':
			i++
			if i >= len(b) {
				return nil, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				escaped = true
			default: // \u (decoded differently by fastjson and encoding/json) or invalid
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default: // c >= utf8.RuneSelf
			ascii = false
		}
	}
}

// strStop marks the bytes that end a run of plain string bytes, so str's
// inner loop is one table load per byte: the quote, the backslash, control
// characters (invalid in a JSON string) and non-ASCII bytes (the string is
// then checked as UTF-8 at its end).
var strStop = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// unescape decodes a string's checked escapes into s.esc.
func (s *scanner) unescape(text []byte) []byte {
	start := len(s.esc)
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\\' {
			i++
			switch c = text[i]; c {
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			}
		}
		s.esc = append(s.esc, c)
	}
	return s.esc[start:len(s.esc):len(s.esc)]
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digitsEnd(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
