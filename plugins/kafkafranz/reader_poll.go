package kafkafranz

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// pollKey names the single batcher of poll scope (no real partition is -1).
var pollKey = partitionKey{partition: -1}

// pollPartition is one partition's share of a poll: its chunks in offset
// order and a cursor over their records.
type pollPartition struct {
	refs   []*chunkRef
	chunk  int // index in refs of the next record's chunk
	record int // index of the next record in that chunk
	count  int
}

// takeRounds batches every round that is complete or done waiting.
func (r *reader) takeRounds(ctx context.Context) {
	if r.rounds == nil {
		return // partition scope
	}
	for r.round == nil {
		before := r.rounds.Incomplete()
		round, ok := r.rounds.Take(r.cons.Lagging())
		if !ok {
			return
		}
		if r.rounds.Incomplete() > before {
			r.log.Debugf("kafka_franz: a poll round was cut after %v without every partition with a backlog: their records join a later batch", r.rounds.Wait)
		}
		r.addPoll(ctx, round)
	}
}

// addPoll batches one round (see franz.Rounds) in poll scope: its records
// go to one batch (without a policy) or into one batcher in the order of
// franz.Interleave, so a batch cut by count or byte_size holds a
// proportional slice of each partition, like a Spark micro-batch.
func (r *reader) addPoll(ctx context.Context, chunks []franz.Chunk) {
	if len(chunks) == 0 {
		return
	}
	if r.policy.IsNoop() {
		n := 0
		for _, ch := range chunks {
			n += len(ch.Records)
		}
		batch := make(service.MessageBatch, 0, n)
		srcs := make([]msgSource, 0, n)
		for _, ch := range chunks {
			ref := newChunkRef(ch, r.meta)
			for i := range ch.Records {
				srcs = append(srcs, msgSource{ref, i})
				batch = append(batch, recordToMessage(&ref.meta, i))
			}
		}
		r.ready = append(r.ready, readyBatch{batch: batch, srcs: srcs, chunks: chunks, last: r.lastOf(chunks), ack: func() {
			for _, ch := range chunks {
				ch.Ack()
			}
		}})
		return
	}
	pb := r.batcher(pollKey)
	if pb == nil {
		return
	}
	for _, ref := range pb.chunks {
		if !ref.chunk.Live() {
			// A revoked partition may be assigned back and re-read in
			// this poll: its old records must not share a batch with the
			// new ones (delivery drops revoked records by partition).
			r.flush(ctx, pb)
			break
		}
	}

	parts, counts := groupPoll(chunks, r.meta)
	order := make([]int32, 0, sum(counts))
	franz.Interleave(counts, func(p int) { order = append(order, int32(p)) })
	r.round = &pendingRound{parts: parts, order: order}
	r.continueRound(ctx)
}

// pendingRound is a poll-scope round not yet wholly batched. A round holds
// a fetch of every partition with a backlog (config/rides.yaml: ~10 000
// rides, 5 batches); built all at once, the batches waiting behind the
// first held their messages (~0.6 KB each with metadata) for nothing, and
// every GC marked them (docs/benchmarks.md, "Sixth round").
type pendingRound struct {
	parts []pollPartition
	order []int32 // partition index of each record, in franz.Interleave order
	next  int     // index in order of the next record to batch
}

// continueRound adds the pending round's records to the poll batcher in
// franz.Interleave order while no batch is ready (transactional mode builds
// them all: its reader picks among the formed batches, reader_txn_order.go),
// then ends the round. The same records in the same order reach the
// batcher as when a round was added at once; only when they are built
// changes, and at most one formed batch waits for ReadBatch.
func (r *reader) continueRound(ctx context.Context) {
	rd, pb := r.round, r.batchers[pollKey]
	for rd.next < len(rd.order) {
		if len(r.ready) > 0 && r.delivered == nil {
			return
		}
		pp := &rd.parts[rd.order[rd.next]]
		rd.next++
		ref, i := pp.refs[pp.chunk], pp.record
		if pp.record++; pp.record == len(ref.chunk.Records) {
			pp.chunk, pp.record = pp.chunk+1, 0
		}
		if pb.add(ref, i) {
			r.flush(ctx, pb)
		}
	}
	r.round = nil
	if len(pb.srcs) > 0 && r.flushCaughtUp && len(r.cons.Lagging()) == 0 {
		// Every partition read to its end: nothing more can join the batch
		// now (Spark's micro-batch takes what is available), and waiting for
		// the period would only delay it (the last batch of a backlog
		// waited up to a whole period: docs/benchmarks.md, "Ninth round").
		r.flush(ctx, pb)
		return
	}
	for _, ref := range pb.chunks {
		if r.cons.Paused(ref.chunk.Topic, ref.chunk.Partition) {
			// checkpoint_limit reached: that partition sends nothing more
			// until these records are acked, so do not wait for a full batch.
			r.flush(ctx, pb)
			break
		}
	}
}

// groupPoll gathers a poll's chunks by partition (the consumer returns a
// partition's chunks in offset order) and counts each partition's records.
func groupPoll(chunks []franz.Chunk, meta metaOptions) ([]pollPartition, []int) {
	index := map[partitionKey]int{}
	var parts []pollPartition
	for _, ch := range chunks {
		k := partitionKey{ch.Topic, ch.Partition}
		i, ok := index[k]
		if !ok {
			i = len(parts)
			index[k] = i
			parts = append(parts, pollPartition{})
		}
		parts[i].refs = append(parts[i].refs, newChunkRef(ch, meta))
		parts[i].count += len(ch.Records)
	}
	counts := make([]int, len(parts))
	for i, p := range parts {
		counts[i] = p.count
	}
	return parts, counts
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
