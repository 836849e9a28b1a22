package window

import (
	"time"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Missing Kafka metadata.
//
// Stage full's per_partition rule needs two keys that a kafka_franz input
// sets only when its metadata_keys lists them: kafka_topic_partitions (the
// partitions to wait for: without it a window closes once the partitions read
// so far are past it, and the rows of partitions read later are dropped as
// late, as in a backlog) and kafka_prev_offset (offset order across pipeline
// threads: without it, with more than one thread, lateness depends on which
// thread ran first). A config whose metadata_keys left one out ran on with
// results that depend on timing, and neither lint nor start can see it (the
// keys belong to another component; red team cfg20). The window says so: an
// ERROR at most once a minute per key, and
// window_missing_kafka_metadata_batches_total{key}.

// watchKafka (p.mu held) runs stage full per_partition's checks of a batch
// of Kafka rows, from its first row with Kafka coordinates: the metadata the
// rule needs (below) and the topics read together (late_topic.go).
func (p *processor) watchKafka(rows []engine.Row, ls chain, now time.Time) {
	if p.conf.engine.Mode != engine.ModePerPartition || p.conf.engine.Stage != engine.StageFull {
		return
	}
	for i := range rows {
		if rows[i].HasPos {
			p.checkKafkaMeta(rows[i], ls)
			p.expectSiblings(rows[i].Pos.Topic, now)
			p.noteTopics(rows[i:])
			return
		}
	}
}

// checkKafkaMeta reports what first, the batch's first Kafka row, and ls,
// its partitions' offset chain, lack.
func (p *processor) checkKafkaMeta(first engine.Row, ls chain) {
	if first.Partitions <= 0 {
		p.missingMeta(partitionsMeta, "the window cannot know which partitions of "+first.Pos.Topic+" to wait for: it closes windows once the partitions read so far are past them, and rows of partitions read later are dropped as late")
	}
	if len(ls.links) == 0 {
		p.missingMeta(prevOffsetMeta, "with more than one pipeline thread, batches of a partition may reach the window out of offset order, and which rows are late then depends on thread timing")
	}
}

func (p *processor) missingMeta(key, why string) {
	p.m.missingMeta.Incr(1, key)
	log := &p.missingLogs[0]
	if key == prevOffsetMeta {
		log = &p.missingLogs[1]
	}
	if ok, n := log.Note(time.Now(), time.Minute); ok {
		p.log.Errorf("tumbling_window: records from Kafka carry no %s (%d batches since the last line): %s. Add %s to the kafka_franz input's metadata_keys (or leave metadata_keys empty)", key, n, why, key)
	}
}
