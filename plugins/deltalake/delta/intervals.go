package delta

import "sort"

// intervals is a set of int64 versions as sorted, disjoint, non-adjacent
// closed intervals [lo, hi]. The tracker (what this process knows is in the
// table) and the recorded holes (what a commit skipped over) share it.
type intervals [][2]int64

// normalized sorts and merges overlapping or adjacent intervals in place.
func (s intervals) normalized() intervals {
	sort.Slice(s, func(i, j int) bool { return s[i][0] < s[j][0] })
	out := s[:0]
	for _, iv := range s {
		if n := len(out); n > 0 && iv[0] <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], iv[1])
			continue
		}
		out = append(out, iv)
	}
	return out
}

// union is the set of versions in s or o (neither is modified).
func (s intervals) union(o intervals) intervals {
	out := make(intervals, 0, len(s)+len(o))
	return append(append(out, s...), o...).normalized()
}

// contains reports whether v is in the set.
func (s intervals) contains(v int64) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i][1] >= v })
	return i < len(s) && s[i][0] <= v
}

// minus is s without the versions of o (both normalized).
func (s intervals) minus(o intervals) intervals {
	var out intervals
	j := 0
	for _, iv := range s {
		lo, hi := iv[0], iv[1]
		for j < len(o) && o[j][1] < lo {
			j++
		}
		for k := j; k < len(o) && o[k][0] <= hi && lo <= hi; k++ {
			if o[k][0] > lo {
				out = append(out, [2]int64{lo, o[k][0] - 1})
			}
			lo = o[k][1] + 1
		}
		if lo <= hi {
			out = append(out, [2]int64{lo, hi})
		}
	}
	return out
}

// pointsOf is the set of the given versions.
func pointsOf(vs []int64) intervals {
	s := make(intervals, len(vs))
	for i, v := range vs {
		s[i] = [2]int64{v, v}
	}
	return s.normalized()
}
