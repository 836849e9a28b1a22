package franz

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// emptyPartitionsLocked (c.mu held, before the poll's records are handed
// down) lists, per topic with records in fetches, the partitions we own that
// have handed nothing downstream since they were assigned and whose log had
// nothing to read at the last look (the offsets listed at assignment, or a
// fetch): Chunk.Empty. tumbling_window lets such a partition stop holding
// its windows back until it delivers (docs/window.md, "Empty partitions"):
// a topic whose producer put every record in one partition closes its
// windows as Spark would, instead of after watermark.idle_timeout. A
// partition that has records to read is never listed, so a backlog's
// results do not change.
func (c *Consumer) emptyPartitionsLocked(fetches kgo.Fetches) map[string][]int32 {
	if c.conf.Group == "" {
		return nil // no listing at assignment: a partition's end is unknown until it delivers
	}
	// Partitions delivering in this poll are not empty, whatever their
	// listing said: their rows may reach the window in a later batch.
	delivering := map[topicPartition]bool{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) > 0 {
			delivering[topicPartition{p.Topic, p.Partition}] = true
		}
	})
	var out map[string][]int32
	for dtp := range delivering {
		if _, done := out[dtp.topic]; done {
			continue
		}
		var empty []int32
		for tp := range c.assigned {
			if tp.topic != dtp.topic || delivering[tp] {
				continue
			}
			if _, delivered := c.last[tp]; !delivered && c.atEndLocked(tp) {
				empty = append(empty, tp.partition)
			}
		}
		if out == nil {
			out = map[string][]int32{}
		}
		slices.Sort(empty)
		out[dtp.topic] = empty
	}
	return out
}
