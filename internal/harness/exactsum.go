package harness

import "math/big"

// exactSum is the references' sum: a big.Float wide enough for any sum of
// float64s, rounded once to the nearest float64. It is deliberately not the
// engine's algorithm (Shewchuk partials), so the two check each other.
type exactSum struct{ f *big.Float }

func (s *exactSum) add(x float64) {
	if s.f == nil {
		s.f = new(big.Float).SetPrec(2200)
	}
	s.f.Add(s.f, new(big.Float).SetPrec(2200).SetFloat64(x))
}

func (s *exactSum) value() float64 {
	if s.f == nil {
		return 0
	}
	v, _ := s.f.Float64()
	return v
}
