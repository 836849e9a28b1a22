package franz

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Chunk.Empty names the partitions with nothing to read that have delivered
// nothing since their assignment; a partition with records is never named,
// even before its first fetch.
func TestChunksNameThePartitionsWithNothingToRead(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(4, "t"))
	produceN(t, addr, "t", 0, 5)
	produceN(t, addr, "t", 3, 5)
	c, _, _ := newTestConsumer(t, addr, nil)
	chunks := pollUntil(t, c, func(cs []Chunk) bool {
		seen := map[int32]bool{}
		for _, ch := range cs {
			seen[ch.Partition] = true
		}
		return seen[0] && seen[3]
	})
	for _, ch := range chunks {
		if !slices.Equal(ch.Empty, []int32{1, 2}) {
			t.Fatalf("partition %d's chunk names %v empty, want [1 2]", ch.Partition, ch.Empty)
		}
	}
	// Partition 1 gets records: it is no longer named; 0 and 3 delivered
	// before, so they are not either.
	produceN(t, addr, "t", 1, 2)
	chunks = pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 2 })
	for _, ch := range chunks {
		if ch.Partition != 1 || !slices.Equal(ch.Empty, []int32{2}) {
			t.Fatalf("partition %d's chunk names %v empty, want partition 1's chunk naming [2]", ch.Partition, ch.Empty)
		}
	}
}
