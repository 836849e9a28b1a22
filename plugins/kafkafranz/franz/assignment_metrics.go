package franz

// AssignmentMetrics is implemented by a ConsumerMetrics that reports which
// partitions this consumer owns (consumer group mode): per replica
// assignment for scale-out, where several processes share the group.
type AssignmentMetrics interface {
	// Assignment is called with owned=true when the partition is assigned,
	// false when it is revoked or lost. Called under the consumer's lock,
	// so it is ordered with Lag: no Lag of a partition follows its loss.
	Assignment(topic string, partition int32, owned bool)
}

// reportAssignment is called by the group callbacks only (never for
// direct partition consumption), under c.mu.
func (c *Consumer) reportAssignment(tp topicPartition, owned bool) {
	if c.own == nil && !c.closed {
		c.own = c.owners.Owner()
	}
	if c.own != nil {
		c.own.Set(tp.topic, tp.partition, owned)
	}
	if am, ok := c.met.(AssignmentMetrics); ok {
		am.Assignment(tp.topic, tp.partition, owned)
	}
}

// reportPartitions (c.mu held) tells the process's ownership record how many
// partitions topic has: a window fed by this consumer waits for every topic
// it reads, not only for those that delivered (window late_topic.go).
func (c *Consumer) reportPartitions(topic string, n int32) {
	if c.own == nil && !c.closed {
		c.own = c.owners.Owner()
	}
	if c.own != nil {
		c.own.SetPartitions(topic, n)
	}
}
