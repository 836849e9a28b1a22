package franz

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
//
// The (position, partition) keys are all distinct, so the sequence is the
// sorted order whatever the priority queue: a min-heap of the partitions'
// next records, typed rather than container/heap, whose calls through an
// interface per record were ~1 % of the rides job's CPU (docs/benchmarks.md,
// "Eighth round").
func Interleave(counts []int, emit func(partition int)) {
	h := make(interleaveHeap, 0, len(counts))
	for p, n := range counts {
		if n > 0 {
			h = append(h, interleaveCursor{part: p, n: int64(n)})
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	for len(h) > 0 {
		c := &h[0]
		emit(c.part)
		c.taken++
		if c.taken == c.n {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		h.down(0)
	}
}

type interleaveCursor struct {
	part     int
	taken, n int64
}

type interleaveHeap []interleaveCursor

// less compares the next positions (2·taken+1)/(2n) without division.
func (h interleaveHeap) less(i, j int) bool {
	a, b := (2*h[i].taken+1)*h[j].n, (2*h[j].taken+1)*h[i].n
	if a != b {
		return a < b
	}
	return h[i].part < h[j].part
}

// down moves h[i] down to its place in the min-heap.
func (h interleaveHeap) down(i int) {
	for {
		m := 2*i + 1
		if m >= len(h) {
			return
		}
		if r := m + 1; r < len(h) && h.less(r, m) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
