package window

import (
	"time"

	"github.com/miaradia/rides-connect/internal/ownership"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// A topic that joins after windows closed.
//
// per_partition learns a topic's partitions from its first record
// (kafka_topic_partitions). One window fed by several topics (an input's
// `topics: [a, b]`) therefore did not wait for a topic that had not
// delivered yet: when a's records closed windows before b's first record
// came, b's rows of those windows were dropped as late, and the table
// depended on which topic was fetched first (red team rt20b: 27 000 rows in
// 2 of 6 runs, all of b's rows when b was filled after a). Now each batch
// makes the watermark wait for every topic the consumer of its rows reads
// (the ownership record: the partition counts kafka_franz learns at its
// assignment), as for the topic's own partitions that have not delivered.
// A topic of another input feeding the same window is still learnt from its
// first record: the window says so if that comes after windows closed
// (ERROR, window_late_topics_total). docs/window.md, "Several topics in one window".

// expectSiblings (p.mu held) makes the watermark wait for the topics read
// together with topic (watchKafka).
func (p *processor) expectSiblings(topic string, now time.Time) {
	ownership.Process.Siblings(topic, func(t string, n int32) {
		p.eng.ExpectTopic(t, n, now)
	})
}

// noteTopics (p.mu held) reports rows of a topic the watermark does not
// know yet (it is in the checkpoint), once windows were emitted for others,
// and returns how many topics it reported (watchKafka).
func (p *processor) noteTopics(rows []engine.Row) (reported int) {
	last := ""
	for i := range rows {
		if !rows[i].HasPos || rows[i].Pos.Topic == last {
			continue
		}
		last = rows[i].Pos.Topic
		if known, others := p.eng.KnowsTopic(last); !known && others && p.eng.Seq() > 0 {
			reported++
			p.m.lateTopics.Incr(1)
			p.log.Errorf("tumbling_window: topic %s delivered its first record after this window closed windows without it: its rows of those windows are dropped as late, and the table depends on which topic was read first. A per_partition window waits for the topics its rows' input reads and for those it has seen; read all topics of one window with one input, or give each topic its own window", last)
		}
	}
	return reported
}
