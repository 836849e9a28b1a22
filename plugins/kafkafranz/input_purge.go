package kafkafranz

import (
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// The input's `purge_committed` object (not a Redpanda Connect field).
const (
	fieldPurge         = "purge_committed"
	fieldPurgeEnabled  = "enabled"
	fieldPurgeInterval = "interval"
)

func purgeInputField() *service.ConfigField {
	return service.NewObjectField(fieldPurge,
		service.NewBoolField(fieldPurgeEnabled).
			Description("Delete the records below the committed offsets of the partitions this member owns (Kafka DeleteRecords), as Kafka Streams does with its repartition topics. "+
				"**Only for a topic this job owns, read by this consumer group alone** (an internal topic such as `<group>-repartition`): the records are deleted for every consumer of the topic, "+
				"and any other group reading it loses what it had not read yet. Requires `consumer_group`; the principal needs the DELETE permission on the topic.").
			Default(false).Example(true),
		service.NewDurationField(fieldPurgeInterval).
			Description("At most one purge per interval: after a commit (a committed transaction with `transaction.enabled`, else a periodic `commit_period` commit the broker accepted), "+
				"once the interval has passed since the last purge, the records below the latest committed offset of each owned partition are deleted. "+
				"A revoked partition is left to its next owner.").
			Default("30s").Example("1m"),
	).Description("Bound the topic's size by what is not committed yet: records this consumer group has committed past are deleted. " +
		"Only offsets the group has committed are purged, so nothing the group would read again after a crash, an abort or a rebalance is lost; the topic's `retention.ms` still deletes records nobody committed. " +
		"A failed purge is logged (WARN) and counted in `kafka_input_purges_total{outcome=\"error\"}`, never fatal: the records stay until the next purge or retention.").Advanced()
}

// purgeLintChecks are the input's lint rules for `purge_committed`.
var purgeLintChecks = []lintCheck{
	{`this.purge_committed.enabled.or(false) && this.consumer_group.or("") == ""`,
		"purge_committed.enabled: requires a consumer_group (only committed offsets are purged)"},
	{`this.purge_committed.enabled.or(false) && this.purge_committed.interval.or("30s").parse_duration() < 1000000000`,
		"purge_committed.interval: must be at least 1s"},
}

// purgeFromParsed returns the purge settings, nil when off.
func purgeFromParsed(conf *service.ParsedConfig, cc franz.ConsumerConfig) (*franz.PurgeConfig, error) {
	if !conf.Contains(fieldPurge) {
		return nil, nil
	}
	f := &fields{conf: conf}
	enabled := f.boolean(fieldPurge, fieldPurgeEnabled)
	interval := f.duration(fieldPurge, fieldPurgeInterval)
	if f.err != nil || !enabled {
		return nil, f.err
	}
	switch {
	case cc.Group == "":
		return nil, fmt.Errorf("%s.%s: requires a %s (only committed offsets are purged)", fieldPurge, fieldPurgeEnabled, fieldConsumerGroup)
	case interval < time.Second:
		return nil, fmt.Errorf("%s.%s: must be at least 1s, got %v", fieldPurge, fieldPurgeInterval, interval)
	}
	return &franz.PurgeConfig{Interval: interval}, nil
}
