package engine

import "math"

// exactSum accumulates float64 values without rounding error: it keeps the
// running sum as non-overlapping partials (Shewchuk's algorithm, as Python's
// math.fsum) and rounds once, correctly, when read. The value read therefore
// depends only on the multiset of values added, never on their order, so a
// window's sum is the same whatever order its partitions' rows were
// interleaved in, however batches were split, and however partial sums are
// merged (replicas). Usually 1–3 partials are held.
//
// The one exception is overflow: if a running partial exceeds the float64
// range, the sum is marked overflowed and reads as ±Inf or NaN (the
// aggregate is then emitted as null), which can depend on order only for sums
// that come within a rounding of ±1.8e308.
type exactSum struct {
	P        []float64 `json:"p,omitempty"`
	Overflow bool      `json:"of,omitempty"`
}

func (s *exactSum) add(x float64) {
	if s.Overflow {
		return
	}
	i := 0
	for _, y := range s.P {
		if math.Abs(x) < math.Abs(y) {
			x, y = y, x
		}
		hi := x + y
		lo := y - (hi - x)
		if lo != 0 {
			s.P[i] = lo
			i++
		}
		x = hi
	}
	if math.IsInf(x, 0) || math.IsNaN(x) {
		s.Overflow, s.P = true, nil
		return
	}
	s.P = append(s.P[:i], x)
}

// merge adds every partial of o: exact, so merging in any order gives the
// same value.
func (s *exactSum) merge(o *exactSum) {
	if o.Overflow {
		s.Overflow, s.P = true, nil
	}
	for _, x := range o.P {
		s.add(x)
	}
}

// value returns the exact sum rounded to the nearest float64 (ties to even).
func (s *exactSum) value() float64 {
	if s.Overflow {
		return math.NaN()
	}
	p := s.P
	n := len(p)
	if n == 0 {
		return 0
	}
	// Sum from the largest partial down until the sum becomes inexact, then
	// correct a half-way case the naive sum would round the wrong way.
	hi, lo := p[n-1], 0.0
	j := n - 1
	for j > 0 {
		x, y := hi, p[j-1]
		j--
		hi = x + y
		lo = y - (hi - x)
		if lo != 0 {
			break
		}
	}
	if j > 0 && ((lo < 0 && p[j-1] < 0) || (lo > 0 && p[j-1] > 0)) {
		y := lo * 2
		x := hi + y
		if y == x-hi {
			hi = x
		}
	}
	return hi
}
