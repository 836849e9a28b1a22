// Package box puts numbers and strings into interfaces (any) without an
// allocation each. Go boxes an int64, float64 or string by copying it to a
// new heap object of its own (runtime.convT64, convTstring); a record parsed
// into a map[string]any or given its Kafka metadata pays that per field. A
// Slab instead copies values into arrays shared by many values and points the
// interface at the copy, so a few hundred values cost one allocation.
//
// A boxed value is never written again: a full array is dropped (not reused)
// and lives for as long as any interface points into it. A Slab is for one
// goroutine at a time; the values it hands out are safe anywhere.
package box

import "unsafe"

// Slab hands out boxed values. The zero value is ready to use.
type Slab struct {
	ints   []int
	int64s []int64
	floats []float64
	strs   []string
	bytes  []byte
}

const (
	valuesPerArray = 256
	bytesPerArray  = 8 << 10
	maxSharedBytes = 256 // a longer string gets its own allocation
)

// eface is the layout of an empty interface: type word, then data pointer.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

var (
	intType     = any(int(0))
	int64Type   = any(int64(0))
	float64Type = any(float64(0))
	stringType  = any("")
)

// at is an interface of proto's type whose value is *p.
func at(proto any, p unsafe.Pointer) any {
	e := *(*eface)(unsafe.Pointer(&proto))
	e.data = p
	return *(*any)(unsafe.Pointer(&e))
}

// Int is any(v).
func (s *Slab) Int(v int) any {
	if v >= 0 && v < 256 {
		return v // the runtime boxes these from a static table
	}
	if len(s.ints) == cap(s.ints) {
		s.ints = make([]int, 0, valuesPerArray)
	}
	s.ints = append(s.ints, v)
	return at(intType, unsafe.Pointer(&s.ints[len(s.ints)-1]))
}

// Int64 is any(v).
func (s *Slab) Int64(v int64) any {
	if v >= 0 && v < 256 {
		return v
	}
	if len(s.int64s) == cap(s.int64s) {
		s.int64s = make([]int64, 0, valuesPerArray)
	}
	s.int64s = append(s.int64s, v)
	return at(int64Type, unsafe.Pointer(&s.int64s[len(s.int64s)-1]))
}

// Float64 is any(v).
func (s *Slab) Float64(v float64) any {
	if len(s.floats) == cap(s.floats) {
		s.floats = make([]float64, 0, valuesPerArray)
	}
	s.floats = append(s.floats, v)
	return at(float64Type, unsafe.Pointer(&s.floats[len(s.floats)-1]))
}

// String is any(string(b)): b is copied, the caller may reuse it.
func (s *Slab) String(b []byte) any {
	if len(b) == 0 || len(b) > maxSharedBytes {
		return string(b)
	}
	if cap(s.bytes)-len(s.bytes) < len(b) {
		s.bytes = make([]byte, 0, bytesPerArray)
	}
	start := len(s.bytes)
	s.bytes = append(s.bytes, b...)
	str := unsafe.String(&s.bytes[start], len(b))
	if len(s.strs) == cap(s.strs) {
		s.strs = make([]string, 0, valuesPerArray)
	}
	s.strs = append(s.strs, str)
	return at(stringType, unsafe.Pointer(&s.strs[len(s.strs)-1]))
}
