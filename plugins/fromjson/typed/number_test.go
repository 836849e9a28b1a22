package typed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkNumberShortcuts fails if a shortcut takes s and gives other than
// strconv: the same bits for a double, the same integer for a long.
func checkNumberShortcuts(t testing.TB, s string) {
	t.Helper()
	if f, ok := shortDecimal([]byte(s)); ok {
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(f) != math.Float64bits(want) {
			t.Errorf("shortDecimal(%q) = %v (%x), strconv %v (%x) %v", s, f, math.Float64bits(f), want, math.Float64bits(want), err)
		}
	}
	if n, ok := shortInt([]byte(s)); ok {
		want, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n != want {
			t.Errorf("shortInt(%q) = %d, strconv %d %v", s, n, want, err)
		}
	}
}

func TestNumberShortcutsGiveStrconvsResult(t *testing.T) {
	edges := []string{"0", "-0", "0.0", "-0.0", "1", "-1", "12.25", "18.4", "0.1", "0.3", "-0.000001",
		"999999999999999", "999999999999999.9", "99999999999999.99", "9007199254740993", "0.000000000000001",
		"123456789012345", "1234567890.12345", "999999999999999999", "-999999999999999999",
		"9223372036854775807", "1e2", "1.", ".5", "-", "", "1.2.3", "+5", "07", "5 "}
	for _, s := range edges {
		checkNumberShortcuts(t, s)
	}
	// The shortcuts must take the usual literals, or they cut nothing.
	for _, s := range []string{"12.25", "18.4", "-0.5", "7", "100042"} {
		if _, ok := shortDecimal([]byte(s)); !ok {
			t.Errorf("shortDecimal declined %q", s)
		}
	}
	if _, ok := shortInt([]byte("100042")); !ok {
		t.Error("shortInt declined 100042")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200_000; i++ {
		intDigits, fracDigits := 1+r.IntN(16), r.IntN(17)
		s := strconv.FormatUint(r.Uint64()%uint64(math.Pow10(min(intDigits, 19))), 10)
		if fracDigits > 0 {
			s += "." + fmt.Sprintf("%0*d", fracDigits, r.Uint64()%uint64(math.Pow10(fracDigits)))
		}
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		checkNumberShortcuts(t, s)
	}
}

// Every value the parse types goes through parseLong and parseDouble: they
// must keep strconv's verdicts, shortcut or not.
func TestParseLongAndDoubleKeepStrconvsVerdicts(t *testing.T) {
	for _, s := range []string{"42", "42.0", "4.2e1", "-0", "9223372036854775807", "9223372036854775808", "1e19", "1.5", "-9223372036854775808"} {
		n, ok := parseLong([]byte(s))
		f, err := strconv.ParseFloat(s, 64)
		want := err == nil && f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			want, f = true, float64(i)
		}
		if ok != want || ok && float64(n) != f {
			t.Errorf("parseLong(%q) = %d %v, want ok %v", s, n, ok, want)
		}
	}
	for _, s := range []string{"1e400", "-1e400", "1e-400", "18.4", "5"} {
		d, ok := parseDouble([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if ok != (err == nil) || ok && d != want {
			t.Errorf("parseDouble(%q) = %v %v, want %v %v", s, d, ok, want, err)
		}
	}
}

func FuzzNumberShortcuts(f *testing.F) {
	for _, s := range []string{"12.25", "-0", "999999999999999", "0.000000000000001", "1e5", "123456789012345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkNumberShortcuts(t, s) })
}
