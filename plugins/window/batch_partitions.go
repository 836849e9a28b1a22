package window

import (
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// partitionRun names one source partition of a batch and a message of it
// (its index in the batch), whose metadata (assignment epoch, commit) the
// stages read for the whole partition: kafka_franz never puts two epochs of
// a partition in one batch.
type partitionRun struct {
	k   string
	pos engine.Position
	i   int
}

// batchPartitions lists the source partitions of a batch once each, in
// batch order: those of the rows (a record's, or a notice's: ofPartition),
// then those only dead letters name. The second kind matters to a stage
// that keeps per-partition state: every record of the partition in the
// batch failed (before the window, or in it), yet the input commits their
// offsets like any other's, so the partition must be loaded and its state
// must cover that commit. Left out, its first batch in an epoch committed
// past the state loaded last, and the next owner held the partition as
// lost (6 Dec). The dead letters cost one nil check per message when there
// are none.
func batchPartitions(batch service.MessageBatch, out []*service.Message, rows []engine.Row, idx []int, keys *engine.PartitionKeys) []partitionRun {
	var runs []partitionRun
	var seen map[string]bool
	add := func(pos engine.Position, i int) {
		k := keys.Of(pos)
		if seen[k] {
			return
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[k] = true
		runs = append(runs, partitionRun{k: k, pos: pos, i: i})
	}
	for j := 0; j < len(rows); j++ {
		if !ofPartition(&rows[j]) {
			continue
		}
		pos := rows[j].Pos
		j = runEnd(rows, j) // a run of one partition's rows: its last row stands for it
		add(pos, idx[j])
	}
	for i, m := range out {
		if m == nil {
			continue
		}
		if pos, ok := position(batch[i]); ok {
			add(pos, i)
		}
	}
	return runs
}
