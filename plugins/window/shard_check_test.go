package window

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// localBundlesOf runs rides through a stage local and returns its bundles
// as records of an internal topic of internal partitions, as repartition_in
// reads them.
func localBundlesOf(t *testing.T, p *localProcessor, internal int, rides ...*service.Message) []*service.Message {
	t.Helper()
	var out []*service.Message
	for i, m := range processStage(t, p, rides...) {
		if k, _ := m.MetaGet(kindMeta); k != kindBundle {
			continue
		}
		body, err := m.AsBytes()
		if err != nil {
			t.Fatal(err)
		}
		q, _ := metaInt(m, markerPartMeta)
		r := internalMsg(t, kindBundle, body, int(q), i, 1)
		r.MetaSetMut(partitionsMeta, internal)
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatal("stage local sent no bundle")
	}
	return out
}

// Source partitions added while the job runs: stage 1 splits its bundles by
// the source topic's new partition count, which the internal topic does not
// have. Merged, a key's partials would be split between internal
// partitions (the table got wrong sums on a real broker, session 40).
// Stage 2 holds such a batch instead: no row, no dead letter, nothing
// committed. Bundles split as the internal topic is, or over fewer
// partitions than it has, pass.
func TestStageMergeHoldsBundlesSplitOverMorePartitionsThanItsTopic(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	local := newLocal(t, res)
	before := localBundlesOf(t, local, 2,
		localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1), localMsg("2026-03-14T10:01:00Z", 1, 0, 1, 5, -1),
		localMsg("2026-03-14T10:30:00Z", 0, 1, 1, 5, -1), localMsg("2026-03-14T10:30:00Z", 1, 1, 1, 5, -1))

	merge := newChangelogMerge(t, res)
	merge.waitChangelog = func(context.Context) error { return nil }
	for _, m := range processStage(t, merge, before...) {
		if m.GetError() != nil {
			t.Fatalf("a bundle split as the internal topic is was rejected: %v", m.GetError())
		}
	}
	// An internal topic larger than the source (made by hand, without
	// create_topic.partitions_of): the same routing, its extra partitions idle.
	larger := newMergeFromYAML(t, ridesYAML, service.MockResources(service.MockResourcesOptAddCache("window_state")))
	larger.waitChangelog = func(context.Context) error { return nil }
	for _, m := range before {
		m.MetaSetMut(partitionsMeta, 3)
	}
	mustMerge(t, larger, before, "stage 2 of bundles split over 2 on an internal topic of 3")

	// The source topic now has 3 partitions; the internal topic still 2.
	grown := func(ts string, part, off int) *service.Message {
		m := localMsg(ts, part, off, 1, 5, -1)
		m.MetaSetMut(partitionsMeta, 3)
		return m
	}
	after := localBundlesOf(t, local, 2, grown("2026-03-14T10:31:00Z", 0, 2), grown("2026-03-14T11:00:00Z", 0, 3))
	mustHold(t, merge, after, errShardCount, "bundles split over 3 on an internal topic of 2")
}

// A write refused because a bundle is addressed to an internal partition
// the topic does not have says why; any other failure gets no hint.
func TestShardHintNamesAGrownSourceTopic(t *testing.T) {
	bs := []engine.Bundle{{Shard: 0, Shards: 6}, {Shard: 5, Shards: 6}}
	hint := shardHint(bs, errors.New("produce to topic g-repartition: invalid record partitioning choice of 4 from 4 available"))
	if !strings.Contains(hint, "split over 6 internal partitions") || !strings.Contains(hint, "gained partitions") {
		t.Fatalf("hint %q does not name the cause", hint)
	}
	if h := shardHint(bs, errors.New("produce to topic g-repartition: broker not available")); h != "" {
		t.Fatalf("hint %q for a broker outage", h)
	}
}
