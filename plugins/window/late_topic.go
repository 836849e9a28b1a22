package window

import (
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// A topic that joins after windows closed.
//
// per_partition learns a topic's partitions from its first record
// (kafka_topic_partitions). One window fed by several topics (an input's
// `topics: [a, b]`) therefore does not wait for a topic that has not
// delivered yet: if a's records close windows before b's first record comes,
// b's rows of those windows are dropped as late, and the table depends on
// which topic was fetched first (red team rt20b: 27 000 rows in 2 of 6 runs,
// all of b's rows when b was filled after a). Not fixed: the window says so
// (ERROR, window_late_topics_total), and docs/window.md says to run one
// window per topic.

// noteTopics (p.mu held) reports rows of a topic the watermark does not
// know yet (it is in the checkpoint), once windows were emitted for others,
// and returns how many topics it reported.
func (p *processor) noteTopics(rows []engine.Row) (reported int) {
	if p.conf.engine.Mode != engine.ModePerPartition || p.conf.engine.Stage != engine.StageFull {
		return 0
	}
	last := ""
	for i := range rows {
		if !rows[i].HasPos || rows[i].Pos.Topic == last {
			continue
		}
		last = rows[i].Pos.Topic
		if known, others := p.eng.KnowsTopic(last); !known && others && p.eng.Seq() > 0 {
			reported++
			p.m.lateTopics.Incr(1)
			p.log.Errorf("tumbling_window: topic %s delivered its first record after this window closed windows without it: its rows of those windows are dropped as late, and the table depends on which topic was read first. A per_partition window waits only for the topics it has seen; run one window per topic (one input and pipeline each, or stages partial and merge)", last)
		}
	}
	return reported
}
