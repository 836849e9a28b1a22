package engine

// PartitionKeys remembers Position.Key for the partitions seen: a batch's
// rows come from a few partitions, and building the key per row cost an
// allocation per row. Not safe for concurrent use; the zero value is ready.
type PartitionKeys struct {
	seen []partitionKey
}

type partitionKey struct {
	topic     string
	partition int32
	key       string
}

// maxKnownPartitions bounds the list (searched linearly); past it keys are
// built per call.
const maxKnownPartitions = 64

// Of is p.Key().
func (c *PartitionKeys) Of(p Position) string {
	for i := range c.seen {
		if s := &c.seen[i]; s.partition == p.Partition && s.topic == p.Topic {
			return s.key
		}
	}
	k := p.Key()
	if len(c.seen) < maxKnownPartitions {
		c.seen = append(c.seen, partitionKey{p.Topic, p.Partition, k})
	}
	return k
}
