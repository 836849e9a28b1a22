package metaswitch

import (
	"math/rand"
	"reflect"
	"testing"
)

// groups against the plain definition (a map of route to members in the
// order of first appearance), for random batches of up to 3 routes; a
// one-route batch is one group with nil members.
func TestGroupsAreTheRoutesInOrderOfFirstMessage(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for range 500 {
		rs := make([]int, rng.Intn(12))
		for i := range rs {
			rs[i] = rng.Intn(3) - 1
		}
		var wantRoutes []int
		var wantMembers [][]int
		at := map[int]int{}
		for i, r := range rs {
			g, ok := at[r]
			if !ok {
				g, at[r] = len(wantRoutes), len(wantRoutes)
				wantRoutes, wantMembers = append(wantRoutes, r), append(wantMembers, nil)
			}
			wantMembers[g] = append(wantMembers[g], i)
		}
		if len(wantRoutes) == 1 {
			wantMembers = nil
		}
		calls := 0
		routes, members := groups(len(rs), func(i int) int { calls++; return rs[i] })
		if !reflect.DeepEqual(routes, wantRoutes) || !reflect.DeepEqual(members, wantMembers) || calls != len(rs) {
			t.Fatalf("groups(%v) = %v %v (%d route calls), want %v %v", rs, routes, members, calls, wantRoutes, wantMembers)
		}
	}
}
