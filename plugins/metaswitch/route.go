package metaswitch

// groups splits the indexes 0..n-1 by route (route(i) returns the index of
// the case, or -1 for the default), keeping the order of the messages
// within each group; groups come in the order of their first message. A
// batch that takes one route (the usual case: a batch comes from one input)
// is one group with members nil, the whole batch in its order: nothing is
// allocated for it.
func groups(n int, route func(i int) int) (routes []int, members [][]int) {
	if n == 0 {
		return nil, nil
	}
	first := route(0)
	same := 1
	for same < n {
		r := route(same)
		if r != first {
			return split(n, same, first, r, route)
		}
		same++
	}
	return []int{first}, nil
}

// split is groups once message same takes route r, the first one not to
// take route first (messages 0..same-1 did).
func split(n, same, first, r int, route func(i int) int) (routes []int, members [][]int) {
	head := make([]int, same)
	for i := range head {
		head[i] = i
	}
	routes, members = []int{first}, [][]int{head}
	at := map[int]int{first: 0} // route → index in routes
	for i := same; i < n; i++ {
		if i > same {
			r = route(i)
		}
		g, ok := at[r]
		if !ok {
			g = len(routes)
			at[r] = g
			routes = append(routes, r)
			members = append(members, nil)
		}
		members[g] = append(members[g], i)
	}
	return routes, members
}
