package franz

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// member is one JoinGroup member of a balancer test: its id, topics and the
// partitions of "t" it claims at generation gen.
type member struct {
	id     string
	topics []string
	owned  []int32
	gen    int32
}

// balanceSingleOwner runs SingleOwnerBalancer's plan for members (in the
// coordinator's order) over topics, leader being the group leader, and
// returns member → topic → partitions.
func balanceSingleOwner(t *testing.T, leader string, topics map[string]int32, members ...member) map[string]map[string][]int32 {
	t.Helper()
	b := SingleOwnerBalancer()
	join := make([]kmsg.JoinGroupResponseMember, len(members))
	for i, m := range members {
		owned := map[string][]int32{}
		if len(m.owned) > 0 {
			owned["t"] = m.owned
		}
		join[i] = kmsg.NewJoinGroupResponseMember()
		join[i].MemberID = m.id
		join[i].ProtocolMetadata = b.JoinGroupMetadata(m.topics, owned, m.gen)
	}
	mb, _, err := b.MemberBalancer(join)
	if err != nil {
		t.Fatal(err)
	}
	cb := mb.(*kgo.ConsumerBalancer)
	cb.SetBalanceInfo(kgo.BalanceInfo{LeaderID: leader})
	into, err := cb.BalanceOrError(topics)
	if err != nil {
		t.Fatal(err)
	}
	plan := map[string]map[string][]int32{}
	for _, a := range into.IntoSyncAssignment() {
		assigned, err := b.ParseSyncAssignment(a.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		plan[a.MemberID] = assigned
	}
	return plan
}

func all(n int32) []int32 {
	ps := make([]int32, n)
	for i := range ps {
		ps[i] = int32(i)
	}
	return ps
}

func TestSingleOwnerBalancerPlans(t *testing.T) {
	t6 := map[string]int32{"t": 6}
	both := []string{"t"}
	for _, c := range []struct {
		name    string
		leader  string
		members []member
		want    map[string][]int32 // member → partitions of t
	}{
		{"a new group: the leader gets the topic", "b",
			[]member{{id: "a", topics: both}, {id: "b", topics: both}, {id: "c", topics: both}},
			map[string][]int32{"b": all(6)}},
		{"a member joining moves nothing", "a",
			[]member{{id: "a", topics: both}, {id: "b", topics: both, owned: all(6), gen: 4}, {id: "c", topics: both}},
			map[string][]int32{"b": all(6)}},
		{"the owner gone: the leader gets the topic at once", "c",
			[]member{{id: "a", topics: both}, {id: "c", topics: both}},
			map[string][]int32{"c": all(6)}},
		{"a paused member's old claim loses to the newer owner", "z",
			[]member{{id: "b", topics: both, owned: all(6), gen: 5}, {id: "z", topics: both, owned: all(6), gen: 3}},
			map[string][]int32{"b": all(6)}},
		{"a member not subscribed to the topic never gets it", "a",
			[]member{{id: "a", topics: []string{"other"}}, {id: "b", topics: both}},
			map[string][]int32{"b": all(6)}},
		// From a spread assignment (the group used cooperative_sticky):
		// the one owning most keeps its part; the rest is revoked from
		// the others first and given to it in the next rebalance.
		{"a split topic goes to its largest owner in two steps", "a",
			[]member{{id: "a", topics: both, owned: []int32{0, 1}, gen: 7}, {id: "b", topics: both, owned: []int32{2, 3, 4, 5}, gen: 7}},
			map[string][]int32{"b": {2, 3, 4, 5}}},
		{"a tie goes to the leader", "b",
			[]member{{id: "a", topics: both, owned: []int32{0, 1, 2}, gen: 7}, {id: "b", topics: both, owned: []int32{3, 4, 5}, gen: 7}},
			map[string][]int32{"b": {3, 4, 5}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan := balanceSingleOwner(t, c.leader, t6, c.members...)
			for _, m := range c.members {
				got, want := plan[m.id]["t"], c.want[m.id]
				if !slices.Equal(got, want) {
					t.Errorf("member %s gets %v of t, want %v (plan %v)", m.id, got, want, plan)
				}
			}
		})
	}
}

// Each topic has its own owner, the member owning most of it.
func TestSingleOwnerBalancerOwnsEachTopicWhole(t *testing.T) {
	plan := balanceSingleOwner(t, "a", map[string]int32{"t": 3, "u": 2},
		member{id: "a", topics: []string{"t", "u"}},
		member{id: "b", topics: []string{"t", "u"}, owned: all(3), gen: 2})
	if got := plan["b"]["t"]; !slices.Equal(got, all(3)) {
		t.Errorf("b, the owner of t, gets %v of it, want all", got)
	}
	if got := plan["a"]["u"]; !slices.Equal(got, all(2)) {
		t.Errorf("a, the leader, gets %v of u (nobody owns it), want all", got)
	}
	if len(plan["a"]["t"])+len(plan["b"]["u"]) != 0 {
		t.Errorf("a topic split between members: %v", plan)
	}
}

// Through the consumer on the Kafka protocol (kfake): the first member reads
// every partition; a second one joins and stands by (the first keeps all its
// chunks live, nothing is revoked); when the first leaves, the second reads
// every partition.
func TestSingleOwnerConsumersAreOneActiveAndStandbys(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(6, "t"))
	for p := int32(0); p < 6; p++ {
		produceN(t, addr, "t", p, 10)
	}
	single := func(c *ConsumerConfig) { c.Balancer = BalancerSingleOwner }

	a, _, _ := newTestConsumer(t, addr, single)
	first := pollUntil(t, a, func(cs []Chunk) bool { return len(partitionsOf(cs)) == 6 })

	b, _, _ := newTestConsumer(t, addr, single)
	waitGroupAssignment(t, addr, "g", func(assigned map[string]int) bool { return len(assigned) == 2 })
	assigned := groupAssignment(t, addr, "g")
	if counts := sortedCounts(assigned); !slices.Equal(counts, []int{0, 6}) {
		t.Fatalf("with a second member, partitions per member %v, want one owning all 6 and one standing by", assigned)
	}
	for _, ch := range first {
		if !ch.Live() {
			t.Errorf("partition %d was taken from the first member when the second joined", ch.Partition)
		}
	}

	a.Close()
	got := pollUntil(t, b, func(cs []Chunk) bool { return len(partitionsOf(cs)) == 6 })
	if n := records(got); n < 60 {
		t.Errorf("the standby read %d records once alone, want all 60 (nothing was committed)", n)
	}
}

func partitionsOf(chunks []Chunk) map[int32]bool {
	ps := map[int32]bool{}
	for _, ch := range chunks {
		ps[ch.Partition] = true
	}
	return ps
}

func sortedCounts(assigned map[string]int) []int {
	var counts []int
	for _, n := range assigned {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	return counts
}

// groupAssignment is member id → partitions assigned, of a stable group.
func groupAssignment(t *testing.T, addr, group string) map[string]int {
	t.Helper()
	gs, err := testAdmin(t, addr).DescribeGroups(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	g := gs[group]
	if g.State != "Stable" {
		return nil
	}
	assigned := map[string]int{}
	for _, m := range g.Members {
		n := 0
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, topic := range c.Topics {
				n += len(topic.Partitions)
			}
		}
		assigned[m.MemberID] = n
	}
	return assigned
}

// waitGroupAssignment polls the coordinator's view of the group until ok.
func waitGroupAssignment(t *testing.T, addr, group string, ok func(map[string]int) bool) {
	t.Helper()
	var last map[string]int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if last = groupAssignment(t, addr, group); last != nil && ok(last) {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the coordinator
	}
	t.Fatal(fmt.Sprintf("group %s: last assignment %v", group, last))
}
