package typed

import (
	"math"
	"strconv"
)

// The numbers of a record, read without strconv when the literal is short:
// strconv first scans the literal into a decimal and then picks an
// algorithm, which costs about as much as the rest of a number's handling.
// Each shortcut gives exactly strconv's result or declines (ok false).

// pow10 holds the powers of ten a float64 holds exactly (10^22 is the last).
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseLong reads a JSON number whose value is an integer in int64's range:
// 42, and also 42.0 or 4.2e1 as the Bloblang mapping did (floor(x) == x).
// A fraction, or a value past int64, is not a long.
func parseLong(text []byte) (int64, bool) {
	if n, ok := shortInt(text); ok {
		return n, true
	}
	if i, err := strconv.ParseInt(string(text), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// shortInt is strconv.ParseInt of -?[0-9]{1,18}: 18 digits cannot overflow.
func shortInt(text []byte) (int64, bool) {
	neg := len(text) > 0 && text[0] == '-'
	digits := text
	if neg {
		digits = text[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseDouble is strconv.ParseFloat(text, 64) for a JSON number literal.
func parseDouble(text []byte) (float64, bool) {
	if f, ok := shortDecimal(text); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(string(text), 64)
	return f, err == nil
}

// shortDecimal reads -?[0-9]+(.[0-9]+)? with no exponent and at most
// maxLongDigits significant digits (leading zeros do not count), so the
// digits are a uint64 m and the value is m / 10^k for k digits after the
// point. When m < 2^53 and k <= 22 both are exact in float64, so one
// correctly rounded IEEE division gives strconv's value (its own exact path
// does the same); longer m, as in the 17-digit reprs of random doubles,
// take longDecimal. More digits, or a longer fraction, decline.
func shortDecimal(text []byte) (float64, bool) {
	neg := len(text) > 0 && text[0] == '-'
	if neg {
		text = text[1:]
	}
	m, k, ok := scanDecimal(text)
	if !ok {
		return 0, false
	}
	var f float64
	switch {
	case m == 0:
	case m < 1<<53 && k < len(pow10):
		f = float64(m) / pow10[k]
	case k <= maxLongFrac:
		f = longDecimal(m, k)
	default:
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

// scanDecimal reads [0-9]+(.[0-9]+)? into its digits m, leading zeros left
// out, and k, the digits after the point; more than maxLongDigits
// significant digits decline (m would overflow).
func scanDecimal(text []byte) (m uint64, k int, ok bool) {
	i, n, sig := 0, len(text), 0
	for i < n && text[i] == '0' {
		i++
	}
	for ; i < n; i++ {
		c := text[i] - '0'
		if c > 9 {
			break
		}
		m = m*10 + uint64(c)
		sig++
	}
	if i == 0 { // no integer digit
		return 0, 0, false
	}
	if i < n {
		if text[i] != '.' {
			return 0, 0, false
		}
		i++
		k = n - i
		if m == 0 {
			for i < n && text[i] == '0' {
				i++
			}
		}
		for ; i < n; i++ {
			c := text[i] - '0'
			if c > 9 {
				return 0, 0, false
			}
			m = m*10 + uint64(c)
			sig++
		}
		if k == 0 {
			return 0, 0, false
		}
	}
	return m, k, sig <= maxLongDigits
}
