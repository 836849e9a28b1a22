package engine

import "sort"

// span is an inclusive range of applied offsets.
type span struct {
	Lo int64 `json:"lo"`
	Hi int64 `json:"hi"`
}

// maxSpans bounds the per-partition set. Gaps come from offsets that carry no
// record (transaction markers, compaction) or from batches applied out of order
// under several pipeline threads; when there are too many, the lowest gap is
// closed, i.e. treated as applied. A record that old arriving for the first
// time would be skipped; see docs/window.md.
const maxSpans = 64

// appliedOffsets is the set of offsets of one topic-partition already
// aggregated. It is a sorted list of disjoint spans, not just the highest
// offset, so that a batch processed before an earlier one of the same
// partition (pipeline threads > 1) does not make the earlier one look replayed.
type appliedOffsets []span

// contains reports whether off was applied.
func (a appliedOffsets) contains(off int64) bool {
	i := sort.Search(len(a), func(i int) bool { return a[i].Hi >= off })
	return i < len(a) && a[i].Lo <= off
}

// add records off as applied.
func (a appliedOffsets) add(off int64) appliedOffsets {
	n := len(a)
	if n > 0 && a[n-1].Hi+1 == off { // the common, in-order case
		a[n-1].Hi = off
		return a
	}
	if n > 0 && a[n-1].Hi < off {
		return a.trim(append(a, span{off, off}))
	}
	i := sort.Search(n, func(i int) bool { return a[i].Hi >= off-1 })
	if i < n && a[i].Lo <= off && off <= a[i].Hi {
		return a
	}
	switch {
	case i < n && a[i].Hi == off-1:
		a[i].Hi = off
		if i+1 < n && a[i+1].Lo == off+1 {
			a[i].Hi = a[i+1].Hi
			a = append(a[:i+1], a[i+2:]...)
		}
	case i < n && a[i].Lo == off+1:
		a[i].Lo = off
	default:
		a = append(a, span{})
		copy(a[i+1:], a[i:])
		a[i] = span{off, off}
	}
	return a.trim(a)
}

func (appliedOffsets) trim(a appliedOffsets) appliedOffsets {
	for len(a) > maxSpans {
		a[1].Lo = a[0].Lo
		a = a[1:]
	}
	return a
}

// highest returns the highest applied offset (-1 if none).
func (a appliedOffsets) highest() int64 {
	if len(a) == 0 {
		return -1
	}
	return a[len(a)-1].Hi
}

// AppliedHigh is the highest applied offset of topic/partition key part
// (-1: none). Stage 2 compares it with the first offset delivered after an
// assignment to tell a state read back too early from a current one.
func (e *Engine) AppliedHigh(part string) int64 { return e.applied[part].highest() }
