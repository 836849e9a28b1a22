package franz

import (
	"math/rand/v2"
	"testing"
)

// Every record is emitted once, and every prefix is a cut at one common
// fraction x of every partition: each holds x·n of its n records, within one.
func TestInterleaveProportionalPrefixes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][]int{{5, 5, 5}, {1000, 10}, {0, 7, 0, 3}, {1}, {}, {600, 600, 600, 600, 600, 600}}
	for range 50 {
		c := make([]int, 1+rng.IntN(8))
		for i := range c {
			c[i] = rng.IntN(300)
		}
		cases = append(cases, c)
	}
	for _, counts := range cases {
		total := 0
		for _, n := range counts {
			total += n
		}
		taken := make([]int, len(counts))
		k := 0
		Interleave(counts, func(p int) {
			taken[p]++
			k++
			x := (float64(taken[p]) - 0.5) / float64(counts[p]) // position of this record
			for q, n := range counts {
				if d := float64(taken[q]) - x*float64(n); d > 1 || d < -1 {
					t.Fatalf("counts %v: after %d records partition %d has %d of %d, cut at %.3f", counts, k, q, taken[q], n, x)
				}
			}
		})
		if k != total {
			t.Fatalf("counts %v: emitted %d records, want %d", counts, k, total)
		}
		for p, n := range counts {
			if taken[p] != n {
				t.Fatalf("counts %v: partition %d emitted %d times, want %d", counts, p, taken[p], n)
			}
		}
	}
}

// Equal partitions come out round-robin, in partition order.
func TestInterleaveEqualIsRoundRobin(t *testing.T) {
	var got []int
	Interleave([]int{2, 2, 2}, func(p int) { got = append(got, p) })
	want := []int{0, 1, 2, 0, 1, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
