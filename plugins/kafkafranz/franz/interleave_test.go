package franz

import (
	"cmp"
	"math/rand/v2"
	"slices"
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

// The sequence is exactly the records sorted by (position, partition), which
// a priority queue of any shape must give: checked against a plain sort.
func TestInterleaveIsTheSortedOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		counts := make([]int, rng.IntN(40))
		for i := range counts {
			counts[i] = rng.IntN(200)
		}
		type rec struct{ part, i int }
		var want []rec
		for p, n := range counts {
			for i := range n {
				want = append(want, rec{p, i})
			}
		}
		// (i+½)/n < (j+½)/m  ⇔  (2i+1)·m < (2j+1)·n
		slices.SortFunc(want, func(a, b rec) int {
			x, y := (2*a.i+1)*counts[b.part], (2*b.i+1)*counts[a.part]
			if x != y {
				return cmp.Compare(x, y)
			}
			return cmp.Compare(a.part, b.part)
		})
		k := 0
		Interleave(counts, func(p int) {
			if k >= len(want) || want[k].part != p {
				t.Fatalf("counts %v: record %d from partition %d, want %v", counts, k, p, want[min(k, len(want)-1)])
			}
			k++
		})
		if k != len(want) {
			t.Fatalf("counts %v: %d records, want %d", counts, k, len(want))
		}
	}
}

// BenchmarkInterleave: a poll round of config/rides.yaml (6 partitions of
// ~1 700 records).
func BenchmarkInterleave(b *testing.B) {
	counts := []int{1700, 1650, 1720, 1690, 1705, 1680}
	n := 0
	for range b.N {
		Interleave(counts, func(int) { n++ })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
