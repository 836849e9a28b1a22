package harness

import (
	"bytes"
	"errors"
	"testing"
)

// Each yields exactly Generate's records, partition by partition in offset
// order, and stops at the callback's first error.
func TestBacklogEachMatchesGenerate(t *testing.T) {
	spec := DefaultBacklog(7, 5000)
	want := spec.Generate()
	got := make([][]Record, spec.Partitions)
	n := 0
	if err := spec.Each(func(p int, r Record) error {
		got[p] = append(got[p], r)
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != spec.Rides {
		t.Fatalf("Each yielded %d records, want %d", n, spec.Rides)
	}
	for p := range want {
		if len(got[p]) != len(want[p]) {
			t.Fatalf("partition %d: %d records, Generate has %d", p, len(got[p]), len(want[p]))
		}
		for i := range want[p] {
			if !bytes.Equal(got[p][i].Value, want[p][i].Value) || !bytes.Equal(got[p][i].Key, want[p][i].Key) {
				t.Fatalf("partition %d offset %d: %s, Generate has %s", p, i, got[p][i].Value, want[p][i].Value)
			}
		}
	}
	stop := errors.New("stop")
	n = 0
	err := spec.Each(func(int, Record) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("Each after an error at record 10: err %v, %d records", err, n)
	}
}
