package engine

import (
	"math"
	"testing"
)

// -0.0 and 0.0 are one group key, as in Spark (its NormalizeFloatingNumbers
// rule); the caller's values are left as they were. Red team rt19b saw two
// groups.
func TestNegativeZeroIsTheSameGroupKeyAsZero(t *testing.T) {
	neg := []any{"PARIS", math.Copysign(0, -1)}
	a, err := EncodeKey(neg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeKey([]any{"PARIS", 0.0})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("keys %s and %s differ", a, b)
	}
	if !math.Signbit(neg[1].(float64)) {
		t.Fatal("EncodeKey changed its argument")
	}
	c, _ := EncodeKey([]any{float32(math.Copysign(0, -1))})
	d, _ := EncodeKey([]any{float32(0)})
	if c != d {
		t.Fatalf("float32 keys %s and %s differ", c, d)
	}
}
