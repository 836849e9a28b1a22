package harness

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Behind lists the partitions of topic whose committed offset in group is
// below the partition's end, as "p (committed c of e)"; a partition with
// nothing in it never is.
func Behind(ctx context.Context, adm *kadm.Client, group, topic string) ([]string, error) {
	return behind(ctx, adm, group, topic, 0)
}

// behind is Behind with slack: a partition committed up to slack offsets
// short of its end is not listed.
func behind(ctx context.Context, adm *kadm.Client, group, topic string, slack int64) ([]string, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	var behind []string
	ends.Each(func(e kadm.ListedOffset) {
		if c, ok := committed.Lookup(topic, e.Partition); e.Offset > 0 && (!ok || c.At < e.Offset-slack) {
			behind = append(behind, fmt.Sprintf("%d (committed %d of %d)", e.Partition, c.At, e.Offset))
		}
	})
	return behind, nil
}

// Committed is the sum of group's committed offsets on topic (0 while they
// cannot be read): a group's progress, for tests that wait on it.
func Committed(ctx context.Context, adm *kadm.Client, group, topic string) int64 {
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.At > 0 {
			sum += o.At
		}
	})
	return sum
}

// Drained reports whether group has committed the end of every partition
// of topic (false on an error).
func Drained(ctx context.Context, adm *kadm.Client, group, topic string) bool {
	behind, err := Behind(ctx, adm, group, topic)
	return err == nil && len(behind) == 0
}

// bundlesInTransactions reports a job config whose stage 1 writes its
// bundles in Kafka transactions (tumbling_window stage: partial,
// config/rides-scaleout.yaml): each internal partition then ends with a
// commit marker, which stage 2's group never commits past (franz-go commits
// the offset after the last record; Spring Kafka's fixTxOffsets exists for
// the same lag of one).
func bundlesInTransactions(config string) bool { return configHas(config, "stage: partial") }

// HasStage2 reports a job config with a stage 2 (tumbling_window stage:
// merge): its table is written after stage 2's group, not stage 1's, has
// read what stage 1 sent.
func HasStage2(config string) bool { return configHas(config, "stage: merge") }

// configHas reports whether the config file at path holds text.
func configHas(path, text string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), text)
}

// MergeLeft says what stage 2 of the job of group (config: its config
// file, metrics at metricsAddr) has left to do once stage 1 committed its
// input: bundles stage 1 has not written (window_bundles_pending), or
// <group>-repartition partitions that <group>-merge has not committed to
// their end. "" when nothing is left. Stage 1's commits come first: they
// follow the states that hold unwritten bundles, and stage 2 writes the
// table before its own commits. When stage 1 writes its bundles in
// transactions (bundlesInTransactions), a commit one offset short of a
// partition's end counts as its end: the marker. Stopping one record early
// instead would show in the table, which the callers compare.
func MergeLeft(ctx context.Context, adm *kadm.Client, group, config, metricsAddr string) string {
	m, err := ScrapeMetrics(metricsAddr)
	if err != nil {
		return fmt.Sprintf("metrics: %v", err)
	}
	if p := m["window_bundles_pending"]; p != 0 {
		return fmt.Sprintf("%v bundles unwritten", p)
	}
	slack := int64(0)
	if bundlesInTransactions(config) {
		slack = 1
	}
	left, err := behind(ctx, adm, group+"-merge", group+"-repartition", slack)
	if err != nil {
		return fmt.Sprintf("stage 2's commits: %v", err)
	}
	if len(left) > 0 {
		return fmt.Sprintf("stage 2 behind on %s-repartition partitions %v", group, left)
	}
	return ""
}
