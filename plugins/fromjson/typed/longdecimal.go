package typed

import (
	"math"
	"math/bits"
)

// maxLongDigits is the most significant digits a uint64 always holds
// (10^19 - 1 < 2^64); maxLongFrac the most fraction digits longDecimal
// takes, so that 10^k is a uint64 too.
const (
	maxLongDigits = 19
	maxLongFrac   = 19
)

// pow10u holds 10^0 .. 10^19 as integers.
var pow10u = [maxLongFrac + 1]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// longDecimal is m / 10^k rounded to the nearest float64, ties to even
// (what strconv.ParseFloat gives), for 0 < m < 2^64 and k <= maxLongFrac:
// the long doubles that float64(m) / 10^k would round twice. One 128-by-64
// bit division gives the quotient's top 64 bits and whether anything is left
// below them, which is all the rounding needs. The value lies in
// (2^-64, 2^64), far from subnormals and infinity.
func longDecimal(m uint64, k int) float64 {
	d := pow10u[k]
	// s scales m/d into [2^63, 2^64): floor(log2(m/d)) is lm-ld or one less,
	// which the top-aligned m and d tell.
	lm, ld := bits.Len64(m), bits.Len64(d)
	e := lm - ld
	if m<<(64-lm) < d<<(64-ld) {
		e--
	}
	s := 63 - e // 0 <= s <= 127, as 2^-64 < m/d < 2^64
	var hi, lo uint64
	if s >= 64 {
		hi = m << (s - 64)
	} else {
		hi, lo = m>>(64-s), m<<s
	}
	q, r := bits.Div64(hi, lo, d) // hi < d because q < 2^64
	// q's top 53 bits are the mantissa; its low 11 bits and r != 0 (the
	// sticky part, below q) decide the rounding.
	mant, low := q>>11, q&(1<<11-1)
	if low > 1<<10 || low == 1<<10 && (r != 0 || mant&1 == 1) {
		mant++
	}
	exp := 63 - s // m/d is in [2^exp, 2^(exp+1))
	if mant == 1<<53 {
		mant >>= 1
		exp++
	}
	return math.Float64frombits(uint64(exp+1023)<<52 | mant&(1<<52-1))
}
