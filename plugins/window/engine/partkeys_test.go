package engine

import (
	"fmt"
	"testing"
)

// Of gives Position.Key for every partition, within and past the bound, for
// topics that share a prefix and partitions that share digits.
func TestPartitionKeysGiveThePositionsKey(t *testing.T) {
	var c PartitionKeys
	for round := 0; round < 2; round++ {
		for _, topic := range []string{"rides", "rides2", "r"} {
			for part := int32(0); part < 2*maxKnownPartitions; part++ {
				p := Position{Topic: topic, Partition: part, Offset: int64(round)}
				if got, want := c.Of(p), fmt.Sprintf("%s/%d", topic, part); got != want || got != p.Key() {
					t.Fatalf("%v: %q, want %q", p, got, want)
				}
			}
		}
	}
}
