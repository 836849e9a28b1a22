package franz

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Values of ConsumerConfig.Balancer.
const (
	BalancerCooperativeSticky = "cooperative_sticky"
	BalancerSingleOwner       = "single_owner"
)

// SingleOwnerProtocol is the group protocol name of SingleOwnerBalancer.
const SingleOwnerProtocol = "single-owner"

// SingleOwnerBalancer is a cooperative group balancer that gives every
// partition of a topic to one member, so N processes of a job that needs the
// whole topic in one process (a stage-full window) are one active member and
// N-1 standbys instead of N members holding a part each. The owner is the
// member that owns most of the topic now, so a member joining or leaving moves
// nothing; with no owner (a new group, the owner gone) it is the group
// leader, which the coordinator keeps until it leaves. Ownership counts only
// claims at the newest generation claimed for a partition, so a member that
// was paused past its session and rejoins still claiming its old partitions
// does not take them back (KIP-792).
func SingleOwnerBalancer() kgo.GroupBalancer { return singleOwner{} }

type singleOwner struct{}

func (singleOwner) ProtocolName() string { return SingleOwnerProtocol }

func (singleOwner) IsCooperative() bool { return true }

func (singleOwner) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	for topic, partitions := range current {
		owned := kmsg.NewConsumerMemberMetadataOwnedPartition()
		owned.Topic = topic
		owned.Partitions = partitions
		meta.OwnedPartitions = append(meta.OwnedPartitions, owned)
	}
	// A deterministic encoding: Kafka compares it to decide whether a
	// member's rejoin needs a rebalance.
	slices.SortFunc(meta.OwnedPartitions, func(a, b kmsg.ConsumerMemberMetadataOwnedPartition) int {
		switch {
		case a.Topic < b.Topic:
			return -1
		case a.Topic > b.Topic:
			return 1
		}
		return 0
	})
	return meta.AppendTo(nil)
}

func (singleOwner) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (s singleOwner) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(s, members)
	return b, b.MemberTopics(), err
}

// Balance gives each topic whole to its owner (see SingleOwnerBalancer).
// Members come sorted by instance id, then member id, which breaks the
// remaining ties the same way on every leader.
func (singleOwner) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	plan := b.NewPlan()
	current := currentOwners(b)
	leader := b.Info().LeaderID
	for topic, n := range topics {
		best, bestOwned, bestLeader := -1, -1, false
		for i := range b.Members() {
			m, meta := b.MemberAt(i)
			if _, ok := slices.BinarySearch(meta.Topics, topic); !ok {
				continue
			}
			owned := 0
			for _, owner := range current[topic] {
				if owner == m.MemberID {
					owned++
				}
			}
			isLeader := m.MemberID == leader
			if owned > bestOwned || owned == bestOwned && isLeader && !bestLeader {
				best, bestOwned, bestLeader = i, owned, isLeader
			}
		}
		if best < 0 || n <= 0 {
			continue
		}
		partitions := make([]int32, n)
		for p := range partitions {
			partitions[p] = int32(p)
		}
		m, _ := b.MemberAt(best)
		plan.AddPartitions(m, topic, partitions)
	}
	// A topic whose owner changes is first taken from the old owner; the
	// new one gets it in the rebalance that follows the revocation.
	plan.AdjustCooperative(b)
	return plan
}

// currentOwners maps topic → partition → the member claiming it at the
// newest generation any member claims it at.
func currentOwners(b *kgo.ConsumerBalancer) map[string]map[int32]string {
	type claim struct {
		member     string
		generation int32
	}
	claims := map[string]map[int32]claim{}
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		for _, owned := range meta.OwnedPartitions {
			byPartition := claims[owned.Topic]
			if byPartition == nil {
				byPartition = map[int32]claim{}
				claims[owned.Topic] = byPartition
			}
			for _, p := range owned.Partitions {
				if c, ok := byPartition[p]; !ok || meta.Generation > c.generation {
					byPartition[p] = claim{m.MemberID, meta.Generation}
				}
			}
		}
	})
	owners := make(map[string]map[int32]string, len(claims))
	for topic, byPartition := range claims {
		owners[topic] = make(map[int32]string, len(byPartition))
		for p, c := range byPartition {
			owners[topic][p] = c.member
		}
	}
	return owners
}
