package window

import (
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Stale batches of stage local.
//
// A batch of a source partition read in an assignment epoch this process no
// longer holds (the partition was lost, or a rebalance assigned it again at
// a later epoch, e.g. when a paused replica rejoined) can still come out of
// the pipeline's buffers. Taken for a new epoch, it made stage local load
// the state of the commit its old epoch started from, under records read
// much further on: the records between were missing, the partition's
// watermark jumped over them, and its bundles closed windows without their
// partials, which stage 2 took as final (a real-broker run with a
// SIGSTOPped replica: a window with five of six partitions' rides). Its
// records come again, from the group's commit, to the partition's owner:
// the batch is dropped, its dead letters too. So is a stale notice, which
// would load the partition (loadMoved) or announce it empty.

// staleRuns (mu held) returns the partitions of the batch whose rows were
// read in a stale epoch: older than the latest one this process loaded the
// partition at, or that one once the partition was forgotten (lost).
func (p *localProcessor) staleRuns(batch service.MessageBatch, runs []partitionRun) map[string]bool {
	var stale map[string]bool
	for _, run := range runs {
		if p.staleEpoch(run.k, epochOf(batch[run.i])) {
			if stale == nil {
				stale = map[string]bool{}
			}
			stale[run.k] = true
		}
	}
	return stale
}

// staleEpoch (mu held) reports epoch ep of partition k as stale: older
// than the latest one this process loaded k at, or that one once k was
// forgotten (lost).
func (p *localProcessor) staleEpoch(k string, ep int64) bool {
	last, seen := p.lastEpoch[k]
	if ep < 0 || !seen {
		return false
	}
	_, loaded := p.epochs[k]
	return ep < last || ep == last && !loaded
}

// dropStaleRuns removes the rows of the stale partitions and the messages of
// those partitions the batch would pass on (dead letters).
func dropStaleRuns(batch service.MessageBatch, out []*service.Message, rows []engine.Row, idx []int, stale map[string]bool) ([]engine.Row, []int) {
	keep := 0
	for j := range rows {
		if ofPartition(&rows[j]) && stale[rows[j].Pos.Key()] {
			continue
		}
		rows[keep], idx[keep] = rows[j], idx[j]
		keep++
	}
	for i, m := range batch {
		if out[i] == nil {
			continue
		}
		if pos, ok := position(m); ok && stale[pos.Key()] {
			out[i] = nil
		}
	}
	return rows[:keep], idx[:keep]
}
