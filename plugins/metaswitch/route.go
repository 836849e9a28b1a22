package metaswitch

// groups splits the indexes 0..n-1 by route (route(i) returns the index of
// the case, or -1 for the default), keeping the order of the messages
// within each group; groups come in the order of their first message. A
// batch that takes one route is one group, in its order.
func groups(n int, route func(i int) int) (routes []int, members [][]int) {
	at := map[int]int{} // route → index in routes
	for i := range n {
		r := route(i)
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
