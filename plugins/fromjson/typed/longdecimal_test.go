package typed

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// checkLong fails unless shortDecimal takes s and gives strconv's bits.
func checkLong(t *testing.T, s string) {
	t.Helper()
	want, err := strconv.ParseFloat(s, 64)
	f, ok := shortDecimal([]byte(s))
	if !ok || err != nil || math.Float64bits(f) != math.Float64bits(want) {
		t.Fatalf("shortDecimal(%q) = %v (%x) %v, strconv %v (%x) %v", s, f, math.Float64bits(f), ok, want, math.Float64bits(want), err)
	}
}

// decimal writes m / 10^k (k fraction digits, a leading "0." and zeros when
// the digits are fewer than k), negated if neg.
func decimal(m string, k int, neg bool) string {
	if k >= len(m) {
		m = strings.Repeat("0", k-len(m)+1) + m
	}
	s := m
	if k > 0 {
		s = m[:len(m)-k] + "." + m[len(m)-k:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Random literals of 16..19 significant digits at every fraction length,
// and the shortest reprs of random doubles (distanceKm's form), give
// strconv's bits.
func TestLongDecimalsGiveStrconvsBits(t *testing.T) {
	n := 3_000_000
	if testing.Short() {
		n = 100_000
	}
	r := rand.New(rand.NewPCG(17, 17))
	var buf []byte
	for i := 0; i < n; i++ {
		nd := 16 + r.IntN(4)
		buf = append(buf[:0], byte('1'+r.IntN(9)))
		for len(buf) < nd {
			buf = append(buf, byte('0'+r.IntN(10)))
		}
		s := decimal(string(buf), r.IntN(maxLongFrac+1), r.IntN(2) == 0)
		if r.IntN(8) == 0 {
			s = strings.Replace(s, "-", "-00", 1) // leading zeros do not count
			if s[0] != '-' {
				s = "00" + s
			}
		}
		checkLong(t, s)
	}
	for i := 0; i < n/3; i++ {
		x := 1e-3 * math.Pow(1e9, r.Float64()) // [1e-3, 1e6), log-uniform
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if len(s) > 2+maxLongFrac && strings.HasPrefix(s, "0.00") {
			continue // 20+ fraction digits: strconv's, not ours
		}
		checkLong(t, s)
	}
}

// The midpoint between two neighbouring doubles is exactly representable in
// decimal; where it fits in 19 digits, the tie must go to the even mantissa,
// and a last digit more or less must break it. (Those near ties are a whole
// quotient unit or more away from the tie; the ones closer, which only the
// remainder tells from a tie, are in TestLongDecimalEdges.)
func TestLongDecimalTiesGoToEvenAndNearTiesDoNot(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ties := 0
	for i := 0; i < 200_000; i++ {
		// A double in [2^49, 2^63): its midpoints are M·2^E with M odd and
		// 54 bits and E >= -4, so M·5^-E may fit in 19 digits.
		exp := 49 + r.IntN(14)
		x := math.Ldexp(1+r.Float64(), exp)
		mid := new(big.Float).SetPrec(200).SetFloat64(x)
		mid.Add(mid, new(big.Float).SetPrec(200).SetFloat64((math.Nextafter(x, math.Inf(1))-x)/2))
		digits := mid.Text('f', 20) // exact: at most 4 fraction digits
		digits = strings.TrimRight(strings.TrimRight(digits, "0"), ".")
		intPart, fracPart, _ := strings.Cut(digits, ".")
		m := intPart + fracPart
		if len(m) > maxLongDigits {
			continue
		}
		if got, _ := strconv.ParseFloat(digits, 64); got != x && got != math.Nextafter(x, math.Inf(1)) {
			t.Fatalf("%s is not between %v and the next double", digits, x)
		}
		ties++
		neg := r.IntN(2) == 0
		// Pad with zeros up to 19 digits: the same tie at other k.
		for pad := 0; len(m)+pad <= maxLongDigits && len(fracPart)+pad <= maxLongFrac; pad++ {
			tie := m + strings.Repeat("0", pad)
			k := len(fracPart) + pad
			checkLong(t, decimal(tie, k, neg))
			if pad == 0 {
				continue
			}
			up := tie[:len(tie)-1] + "1"
			checkLong(t, decimal(up, k, neg))
			b, _ := new(big.Int).SetString(tie, 10)
			down := b.Sub(b, big.NewInt(1)).String()
			checkLong(t, decimal(down, k, neg))
		}
	}
	if ties < 10_000 {
		t.Fatalf("only %d ties fit in 19 digits", ties)
	}
}

// The edges of the scaling and the carry: powers of two around 2^53 and
// 2^63, the largest and smallest m and k, a mantissa of all ones that rounds
// up into the next binade.
func TestLongDecimalEdges(t *testing.T) {
	for _, s := range []string{
		"9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995",
		"9223372036854775807", "9223372036854775808", "9999999999999999999", "1000000000000000000",
		"18446744073709551615", // 20 digits: must be declined
		"0.9999999999999999999", "0.0000000000000000001", "0.1000000000000000000", "1.000000000000000001",
		"9007199254740991.5", "9007199254740991.51", "18014398509481983", "17.234567890123456",
		"-0.30000000000000004", "0.1234567890123456789", "4503599627370495.5", "4503599627370495.75",
		// Quotients whose 11 dropped bits are exactly half, with a remainder
		// below them: just above a tie, so they round up even to an odd
		// mantissa (found by a search that ignored the remainder).
		"274207752.202793628", "9287359.8155595297", "9.676706858191090", "2.9205423604318137",
		"0.0092525822194618303", "98833623517.4016800", "799079774173.30719", "0.036331893188995424",
		"46016656.23652142659", "977195.021616306447", "13210.2604037930696", "43.16954208883298705",
		"4390.29181883715728", "19673794173.634058", "-40093052341.18519974",
	} {
		if len(strings.TrimLeft(strings.Replace(s, ".", "", 1), "-0")) > maxLongDigits {
			if _, ok := shortDecimal([]byte(s)); ok {
				t.Errorf("shortDecimal took %q, 20 significant digits", s)
			}
			continue
		}
		checkLong(t, s)
	}
	// Declined: exponents, too many digits, too long a fraction.
	for _, s := range []string{"1.7234567890123456e1", "12345678901234567890", "0.00000000000000000001234", "1.23456789012345678901"} {
		if _, ok := shortDecimal([]byte(s)); ok {
			t.Errorf("shortDecimal took %q", s)
		}
	}
}
