package box

import (
	"fmt"
	"math"
	"runtime"
	"testing"
)

// Boxed values equal Go's own boxing of the same value (type and value),
// across many arrays, after the slab moved on and after a GC.
func TestBoxedValuesEqualGoBoxing(t *testing.T) {
	var s Slab
	var got, want []any
	buf := []byte("2026-03-14T08:58:43.498Z")
	for i := 0; i < 3*valuesPerArray; i++ {
		n := i*7919 - 1000
		got = append(got, s.Int(n), s.Int64(int64(n)<<20), s.Float64(float64(n)/3), s.String(buf))
		want = append(want, n, int64(n)<<20, float64(n)/3, string(buf))
		buf[len(buf)-2]++ // the caller's buffer changes: the boxed string must not
	}
	long := make([]byte, maxSharedBytes+1)
	got = append(got, s.String(nil), s.String(long), s.Float64(math.NaN()), s.Int(-1), s.Int64(math.MinInt64))
	want = append(want, "", string(long), math.NaN(), -1, int64(math.MinInt64))
	runtime.GC()
	for i := range want {
		g, w := got[i], want[i]
		if fmt.Sprintf("%T %#v", g, g) != fmt.Sprintf("%T %#v", w, w) {
			t.Fatalf("value %d: got %T %#v, want %T %#v", i, g, g, w, w)
		}
		if f, ok := w.(float64); ok && math.IsNaN(f) {
			continue
		}
		if g != w {
			t.Fatalf("value %d: %v != %v", i, g, w)
		}
	}
}

// A slab allocates once per array, not once per value.
func TestSlabAllocatesPerArray(t *testing.T) {
	var s Slab
	ts := []byte("2026-03-14T08:58:43.498Z")
	allocs := testing.AllocsPerRun(1000, func() {
		_ = s.Int64(1 << 40)
		_ = s.Float64(12.5)
		_ = s.String(ts)
	})
	if allocs > 0.1 {
		t.Fatalf("%.2f allocations per 3 values, want amortised to ~0", allocs)
	}
}
