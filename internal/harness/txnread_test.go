package harness

import (
	"reflect"
	"testing"
)

func TestCountsOffNamesMissingAndRepeatedValues(t *testing.T) {
	want := func(i int) string { return []string{"a", "b", "c"}[i] }
	got := CountsOff([]string{"b", "a", "b", "x"}, 3, want)
	exp := []string{"b seen 2 times, want 1", "c seen 0 times, want 1"}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("CountsOff = %q, want %q", got, exp)
	}
	if off := CountsOff([]string{"c", "a", "b"}, 3, want); off != nil {
		t.Fatalf("CountsOff of each once = %q, want none", off)
	}
}
