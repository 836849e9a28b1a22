package franz

import "container/heap"

// Interleave orders the records of several partitions into one sequence in
// which every prefix holds the same fraction of each partition, within one
// record: record i
// of a partition with n records sits at position (i+½)/n, and the sequence
// is sorted by position (ties: lower partition index first). Records of one
// partition keep their order.
//
// A poll cut into batches in this order gives each batch a proportional
// slice of every partition, as Spark's maxOffsetsPerTrigger splits a trigger
// across partitions, so a batch never carries one partition far ahead in
// event time of the others. emit is called once per record with the index
// of its partition; the caller keeps the per-partition cursor.
func Interleave(counts []int, emit func(partition int)) {
	h := make(interleaveHeap, 0, len(counts))
	for p, n := range counts {
		if n > 0 {
			h = append(h, interleaveCursor{part: p, n: int64(n)})
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		c := &h[0]
		emit(c.part)
		c.taken++
		if c.taken == c.n {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
}

type interleaveCursor struct {
	part     int
	taken, n int64
}

type interleaveHeap []interleaveCursor

func (h interleaveHeap) Len() int { return len(h) }

// Less compares the next positions (2·taken+1)/(2n) without division.
func (h interleaveHeap) Less(i, j int) bool {
	a, b := (2*h[i].taken+1)*h[j].n, (2*h[j].taken+1)*h[i].n
	if a != b {
		return a < b
	}
	return h[i].part < h[j].part
}
func (h interleaveHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *interleaveHeap) Push(x any)   { *h = append(*h, x.(interleaveCursor)) }
func (h *interleaveHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
