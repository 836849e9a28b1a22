package engine

import (
	"math"
	"math/big"
	"math/rand"
	"testing"
)

// bigSum is an independent exact sum: big.Float with enough precision for
// any sum of float64s, rounded once to the nearest float64 (ties to even).
func bigSum(xs []float64) float64 {
	s := new(big.Float).SetPrec(4096)
	for _, x := range xs {
		s.Add(s, new(big.Float).SetPrec(4096).SetFloat64(x))
	}
	f, _ := s.Float64()
	return f
}

func randomValues(rng *rand.Rand, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		switch rng.Intn(4) {
		case 0: // prices: cents
			xs[i] = float64(rng.Intn(100000)) / 100
		case 1: // wide magnitudes, both signs
			xs[i] = (rng.Float64() - 0.5) * math.Pow(10, float64(rng.Intn(40)-20))
		case 2: // values that cancel
			xs[i] = 1e16 * float64(rng.Intn(3)-1)
		default:
			xs[i] = rng.NormFloat64()
		}
	}
	return xs
}

func TestExactSumIsCorrectlyRoundedAndOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	naiveDiffers := 0
	for trial := 0; trial < 500; trial++ {
		xs := randomValues(rng, 1+rng.Intn(200))
		want := bigSum(xs)
		var naive1, naive2 float64
		for _, x := range xs {
			naive1 += x
		}
		for perm := 0; perm < 4; perm++ {
			rng.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
			var s exactSum
			naive2 = 0
			for _, x := range xs {
				s.add(x)
				naive2 += x
			}
			if got := s.value(); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("trial %d perm %d: exact sum %v, big.Float says %v", trial, perm, got, want)
			}
			if naive1 != naive2 {
				naiveDiffers++
			}
			// Merged from random splits, in any order: the same value.
			var parts [3]exactSum
			for _, x := range xs {
				parts[rng.Intn(3)].add(x)
			}
			var m exactSum
			for _, k := range rng.Perm(3) {
				m.merge(&parts[k])
			}
			if got := m.value(); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("trial %d: merged sum %v, want %v", trial, got, want)
			}
		}
	}
	// The data must be able to tell: a plain running sum changes with order.
	if naiveDiffers == 0 {
		t.Fatal("no permutation changed the naive sum: the test data cannot detect order dependence")
	}
}

func TestExactSumHalfwayAndOverflow(t *testing.T) {
	// 1 + 2^-53 + 2^-105: naive left-to-right rounds the half-way case down.
	xs := []float64{1, math.Ldexp(1, -53), math.Ldexp(1, -105)}
	var s exactSum
	for _, x := range xs {
		s.add(x)
	}
	if got, want := s.value(), bigSum(xs); got != want || got == 1 {
		t.Fatalf("half-way case: got %v, want %v (> 1)", got, want)
	}
	var o exactSum
	o.add(math.MaxFloat64)
	o.add(math.MaxFloat64)
	if !math.IsNaN(o.value()) || !o.Overflow {
		t.Fatalf("overflow must read as NaN (emitted as null), got %v", o.value())
	}
	var z exactSum
	if z.value() != 0 {
		t.Fatal("empty sum must be 0")
	}
}

func TestMinMaxOfSignedZerosDoNotDependOnOrder(t *testing.T) {
	for _, order := range [][]float64{{0, math.Copysign(0, -1)}, {math.Copysign(0, -1), 0}} {
		var a acc
		for _, v := range order {
			a.add(Value{F: v})
		}
		if !math.Signbit(a.Min) || math.Signbit(a.Max) {
			t.Fatalf("order %v: min %v (want -0), max %v (want +0)", order, a.Min, a.Max)
		}
	}
}

// Spark's sum and avg add each value to an initial 0.0, so a window whose
// values are all -0.0 reads +0.0 there (checked with Spark 4.2: sum and avg
// of two -0.0 are 0x0000000000000000); the exact sum alone gives -0.
func TestSumAndAvgOfNegativeZerosAreZeroAsSpark(t *testing.T) {
	negZero := math.Copysign(0, -1)
	g := &group{Rows: 2, Aggs: []acc{{}}}
	g.Aggs[0].add(Value{F: negZero})
	g.Aggs[0].add(Value{F: negZero})
	for _, op := range []Op{OpSum, OpAvg} {
		got := string(result(AggSpec{Name: "x", Op: op, HasValue: true}, g, &g.Aggs[0]))
		if got != "0" {
			t.Errorf("%s of -0.0, -0.0 = %s, want 0 as Spark", op, got)
		}
	}
	// min and max are values, not sums: they keep the sign.
	if got := string(result(AggSpec{Name: "x", Op: OpMin, HasValue: true}, g, &g.Aggs[0])); got != "-0" {
		t.Errorf("min of -0.0, -0.0 = %s, want -0", got)
	}
}
