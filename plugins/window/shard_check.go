package window

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// errShardCount marks a bundle that stage 1 split over more internal
// partitions than the internal topic has: stage 1 takes the count from the
// source topic (the two are created equal), so the source topic gained
// partitions while the job ran. Its keys are routed by the new count, the
// keys of earlier bundles by the old one: merged, a key's partials would
// meet in two internal partitions and both would emit a wrong row for it.
// Stage merge holds such a batch (config_hold.go). Fewer shards than
// internal partitions is a job whose internal topic was made larger than
// its source (without create_topic.partitions_of): routing stays the same
// and the extra internal partitions get nothing, so it passes.
var errShardCount = errors.New("the source topic has more partitions than the internal topic")

// checkShards refuses a bundle of msg (a record of the internal topic, whose
// partition count the input sets in kafka_topic_partitions) split over more
// shards than that. Without that metadata (tests, other inputs)
// there is nothing to check against.
func checkShards(msg *service.Message, pos engine.Position, b *engine.Bundle) error {
	have, ok := metaInt(msg, partitionsMeta)
	if !ok || have <= 0 || b.Shards <= 0 || int64(b.Shards) <= have {
		return nil
	}
	return fmt.Errorf("%w: a bundle of %s is split over %d internal partitions (the partition count of %s when stage 1 read it) but %s has %d partitions; "+
		"merging it would put a key's partials in two internal partitions and write wrong rows. Changing a partition count is a migration (docs/scale-out.md, \"Partition count changes\")",
		errShardCount, engine.Position{Topic: b.Source.Topic, Partition: b.Source.Partition}.Key(), b.Shards, b.Source.Topic, pos.Topic, have)
}

// shardHint explains a failed write of bundles addressed to an internal
// partition the internal topic does not have (franz-go: "invalid record
// partitioning choice"): stage 1 splits bundles by the source topic's
// partition count, so the source topic gained partitions.
func shardHint(bs []engine.Bundle, err error) string {
	if err == nil || !strings.Contains(err.Error(), "invalid record partitioning choice") {
		return ""
	}
	var n int32
	for i := range bs {
		n = max(n, bs[i].Shards)
	}
	return fmt.Sprintf(" (the bundles are split over %d internal partitions, the partition count of the source topic; the internal topic has fewer: the source topic gained partitions while the job ran, and "+
		"windows stop closing until the job is migrated, docs/scale-out.md \"Partition count changes\")", n)
}
