package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/batchcheck"
	"github.com/miaradia/rides-connect/internal/box"
	"github.com/miaradia/rides-connect/internal/kafkarecord"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// reader adapts franz.Consumer to service.BatchInput. ReadBatch is called
// from one goroutine; acks arrive from any.
type reader struct {
	cons   *franz.Consumer
	policy service.BatchPolicy
	// batchProcs: the batching policy has processors, so a batch's
	// messages are not those built from its records (no srcs).
	batchProcs bool
	// ownBatches: the policy is count, byte_size and period alone, applied
	// by a countBatcher instead of Benthos' batcher (batcher.go).
	ownBatches bool
	// flushCaughtUp: a partial batch is flushed as soon as its partitions
	// have nothing more to read (flush_when_caught_up).
	flushCaughtUp bool
	created       *batchCreated // batch_created of the countBatchers
	mgr           *service.Resources
	log           *service.Logger

	met      *inputMetrics
	meta     metaOptions
	scope    string        // batch_scope: scopePartition | scopePoll
	rounds   *franz.Rounds // poll scope: polls gathered into rounds
	round    *pendingRound // poll scope: the round being batched, if unfinished
	ready    []readyBatch
	batchers map[partitionKey]*partitionBatcher
	// delivered, when set (transactional mode), is told the last record
	// per partition of each batch once it is acked, before the batch's ack
	// returns (reader_txn.go).
	delivered func(map[partitionKey]*kgo.Record)
	// handed is the partitions of the batch ReadBatch last returned
	// (ReadBatch goroutine only; reader_txn_order.go).
	handed []partitionKey
}

// batch_scope values.
const (
	scopePartition = "partition" // one batch per topic-partition (Redpanda Connect)
	scopePoll      = "poll"      // batches span every partition of a poll (Spark micro-batch)
)

type partitionKey struct {
	topic     string
	partition int32
}

type readyBatch struct {
	batch service.MessageBatch
	ack   func()
	// chunks are the distinct chunks the batch's records come from; a chunk
	// that is no longer Live marks its partition as revoked.
	chunks []franz.Chunk
	// last is the batch's last record per partition (see reader.delivered).
	last map[partitionKey]*kgo.Record
	// srcs are the records the messages were built from, one per message
	// in batch order, so that a nacked batch can be built again
	// (reader_replay.go); nil when batch processors changed the batch.
	srcs []msgSource
}

// msgSource is the record a message was built from: the i-th of ref's chunk.
type msgSource struct {
	ref *chunkRef
	i   int
}

func (s msgSource) message() *service.Message { return recordToMessage(&s.ref.meta, s.i) }

func (s msgSource) record() *kgo.Record { return s.ref.chunk.Records[s.i] }

// chunkRef counts how many of a chunk's records are still in batches not yet
// acked; the chunk is released to the tracker when it reaches zero.
type chunkRef struct {
	chunk     franz.Chunk
	meta      partitionMeta // the metadata of the chunk's messages
	remaining atomic.Int64
	inBatch   uint64 // reader goroutine only: the batcher generation it was last added to
}

func newChunkRef(ch franz.Chunk, meta metaOptions) *chunkRef {
	ref := &chunkRef{chunk: ch, meta: newPartitionMeta(ch, meta)}
	if meta.none {
		// Only without metadata: with it, a carrier would be two more
		// allocations per record for what the metadata already says.
		ref.meta.carriers = kafkarecord.Carriers(&ref.meta, len(ch.Records))
	}
	ref.remaining.Store(int64(len(ch.Records)))
	return ref
}

func (c *chunkRef) release(n int64) {
	if c.remaining.Add(-n) == 0 {
		c.chunk.Ack()
	}
}

// partitionBatcher applies the batching policy to one topic-partition, or
// to every partition in poll scope.
type partitionBatcher struct {
	b msgBatcher
	// presize is the capacity srcs starts a batch with: the policy's count.
	presize int
	// last is the last record per partition since the last flush, tracked
	// only for reader.delivered (transactional mode).
	last      map[partitionKey]*kgo.Record
	trackLast bool
	srcs      []msgSource // one per message added since the last flush
	chunks    []*chunkRef // the distinct refs among them
	gen       uint64      // flushes so far, to tell a ref's first add to this batch
}

// add appends a message of ref's chunk and reports whether the policy says
// to flush.
func (pb *partitionBatcher) add(ref *chunkRef, i int) bool {
	rec := ref.chunk.Records[i]
	if pb.srcs == nil && pb.presize > 0 {
		// One allocation per batch instead of a slice regrown from empty.
		pb.srcs = make([]msgSource, 0, pb.presize)
	}
	pb.srcs = append(pb.srcs, msgSource{ref, i})
	if pb.trackLast {
		if pb.last == nil {
			pb.last = map[partitionKey]*kgo.Record{}
		}
		pb.last[partitionKey{ref.chunk.Topic, ref.chunk.Partition}] = rec
	}
	if ref.inBatch != pb.gen+1 {
		ref.inBatch = pb.gen + 1
		pb.chunks = append(pb.chunks, ref)
	}
	return pb.b.Add(recordToMessage(&ref.meta, i))
}

// newReader makes the input's reader; procs tells whether the batching
// policy lists processors (service.BatchPolicy does not say).
func newReader(conf franz.ConsumerConfig, policy service.BatchPolicy, procs bool, meta metaOptions, scope string, mgr *service.Resources) (*reader, error) {
	if err := batchcheck.Policy(fieldBatching, policy); err != nil {
		return nil, err
	}
	switch scope {
	case "":
		scope = scopePartition
	case scopePartition, scopePoll:
	default:
		return nil, fmt.Errorf("%s: %q is not one of %s, %s", fieldBatchScope, scope, scopePartition, scopePoll)
	}
	if meta.box == nil {
		meta.box = new(box.Slab) // used by the reader goroutine only
	}
	met := newInputMetrics(mgr.Metrics())
	cons := franz.NewConsumer(conf, mgr.Logger(), met)
	if err := cons.Validate(); err != nil {
		return nil, err
	}
	var rounds *franz.Rounds
	if scope == scopePoll {
		// A healthy broker answers a fetch within fetch_max_wait.
		rounds = &franz.Rounds{Wait: max(conf.FetchMaxWait, 100*time.Millisecond)}
	}
	r := &reader{
		rounds:     rounds,
		cons:       cons,
		met:        met,
		meta:       meta,
		scope:      scope,
		policy:     policy,
		ownBatches: simplePolicy(policy, procs),
		mgr:        mgr,
		log:        mgr.Logger(),
		batchers:   map[partitionKey]*partitionBatcher{},
	}
	// Batchers are made per partition once records arrive (no policy: none):
	// one that cannot be made (batching.period: 1, no unit) skipped every
	// record, logging.
	if !policy.IsNoop() {
		b, err := r.newBatcher()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fieldBatching, err)
		}
		_ = b.Close(context.Background())
	}
	return r, nil
}

func (r *reader) Connect(ctx context.Context) error {
	err := r.cons.Connect(ctx)
	if errors.Is(err, franz.ErrClosed) {
		return service.ErrEndOfInput
	}
	return err
}

func (r *reader) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	batch, _, ack, err := r.readBatch(ctx)
	return batch, ack, err
}

// readBatch is ReadBatch that also returns the batch's sources (see
// readyBatch.srcs).
func (r *reader) readBatch(ctx context.Context) (service.MessageBatch, []msgSource, service.AckFunc, error) {
	for {
		if batch, srcs, ack, ok := r.popReady(); ok {
			return batch, srcs, ack, nil
		}
		if r.round != nil {
			// The rest of a round comes before any poll or timer.
			if r.continueRound(ctx); r.round == nil {
				r.takeRounds(ctx)
			}
			continue
		}

		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if wait, ok := r.nextFlush(); ok {
			if wait <= flushSlack {
				r.flushDue(ctx)
				r.takeRounds(ctx)
				continue
			}
			pollCtx, cancel = context.WithTimeout(ctx, wait)
		}
		chunks, err := r.cons.Poll(pollCtx)
		cancel()
		switch {
		case err == nil:
			r.add(ctx, chunks)
		case ctx.Err() != nil:
			return nil, nil, nil, ctx.Err()
		case pollCtx.Err() != nil:
			r.flushDue(ctx) // a batching period elapsed
			r.takeRounds(ctx)
		case errors.Is(err, franz.ErrClosed):
			return nil, nil, nil, service.ErrEndOfInput
		case errors.Is(err, franz.ErrNotConnected):
			return nil, nil, nil, service.ErrNotConnected
		case errors.Is(err, franz.ErrDataLoss):
			r.stopOnDataLoss(err)
			return nil, nil, nil, service.ErrEndOfInput
		default:
			return nil, nil, nil, err // Benthos logs it and retries with back-off
		}
	}
}

// popReady returns the next formed batch, if any, without polling.
func (r *reader) popReady() (service.MessageBatch, []msgSource, service.AckFunc, bool) {
	for len(r.ready) > 0 {
		rb := r.ready[0]
		r.ready[0] = readyBatch{}
		r.ready = r.ready[1:]
		// Records of a partition revoked while the batch waited here
		// are read by the new owner from the last commit: delivering
		// them would only duplicate them.
		if rb.srcs != nil {
			rb.batch, rb.srcs = r.dropRevokedSources(rb)
		} else {
			rb.batch = r.dropRevoked(rb)
		}
		if len(rb.batch) == 0 {
			rb.ack() // nothing left to deliver; acks of revoked chunks commit nothing
			continue
		}
		if r.delivered != nil { // transactional mode only
			r.handed = r.handed[:0]
			for _, ch := range rb.chunks {
				if k := (partitionKey{ch.Topic, ch.Partition}); !slices.Contains(r.handed, k) {
					r.handed = append(r.handed, k)
				}
			}
		}
		var once sync.Once
		return rb.batch, rb.srcs, func(context.Context, error) error {
			// A non-nil error only reaches here with auto_replay_nacks:
			// false, where Benthos semantics are "drop": release it.
			// Once: a repeated ack must not release a shared chunk early.
			once.Do(func() {
				rb.ack()
				r.reportDelivered(rb)
			})
			return nil
		}, true
	}
	return nil, nil, nil, false
}

func (r *reader) add(ctx context.Context, chunks []franz.Chunk) {
	chunks = r.takeNotices(chunks)
	if r.scope == scopePoll {
		r.rounds.Add(chunks)
		r.takeRounds(ctx)
		return
	}
	for _, ch := range chunks {
		ref := newChunkRef(ch, r.meta)
		if r.policy.IsNoop() {
			batch := make(service.MessageBatch, len(ch.Records))
			srcs := make([]msgSource, len(ch.Records))
			for i := range ch.Records {
				srcs[i] = msgSource{ref, i}
				batch[i] = srcs[i].message()
			}
			r.ready = append(r.ready, readyBatch{batch: batch, srcs: srcs, ack: ch.Ack, chunks: []franz.Chunk{ch}, last: r.lastOf([]franz.Chunk{ch})})
			continue
		}
		k := partitionKey{ch.Topic, ch.Partition}
		pb := r.batcher(k)
		if pb == nil {
			continue
		}
		if len(pb.srcs) > 0 && !pb.srcs[0].ref.chunk.Live() {
			// The partition was revoked and assigned back: what the
			// batcher holds is from the old assignment, re-read now.
			r.discard(ctx, k, pb)
		}
		for i := range ch.Records {
			if pb.add(ref, i) {
				r.flush(ctx, pb)
			}
		}
		if len(pb.srcs) > 0 && r.cons.Paused(ch.Topic, ch.Partition) {
			// checkpoint_limit reached: nothing more comes from this
			// partition until these records are acked, so waiting for the
			// batch to fill would stall it.
			r.flush(ctx, pb)
		} else if len(pb.srcs) > 0 && r.flushCaughtUp && r.cons.AtEnd(ch.Topic, ch.Partition) {
			// Read to its end: nothing more can join the batch now, and
			// waiting for the period would only delay it (the last batch
			// of a backlog waited up to a whole period).
			r.flush(ctx, pb)
		}
	}
}

func (r *reader) batcher(k partitionKey) *partitionBatcher {
	if pb := r.batchers[k]; pb != nil {
		return pb
	}
	b, err := r.newBatcher()
	if err != nil {
		// The policy was validated at construction; this cannot happen in
		// practice, and an unbatched path would break the per-partition order.
		r.log.Errorf("kafka_franz: cannot create batcher: %v", err)
		return nil
	}
	pb := &partitionBatcher{b: b, presize: min(max(r.policy.Count, 0), maxPresize), trackLast: r.delivered != nil}
	r.batchers[k] = pb
	return pb
}

func (r *reader) newBatcher() (msgBatcher, error) {
	if !r.ownBatches {
		return r.policy.NewBatcher(r.mgr)
	}
	if r.created == nil {
		r.created = newBatchCreated(r.mgr.Metrics())
	}
	return newCountBatcher(r.policy, r.created, time.Now)
}

func (r *reader) flush(ctx context.Context, pb *partitionBatcher) {
	srcs, distinct, last := pb.srcs, pb.chunks, pb.last
	pb.srcs, pb.chunks, pb.last = nil, nil, nil
	pb.gen++
	batch, err := pb.b.Flush(ctx)
	if err != nil {
		r.log.Errorf("kafka_franz: batch processors failed: %v", err)
	}
	if len(srcs) == 0 {
		return
	}
	ack := func() {
		// Count the records of each chunk in this batch, then release.
		counts := map[*chunkRef]int64{}
		for _, s := range srcs {
			counts[s.ref]++
		}
		for ref, n := range counts {
			ref.release(n)
		}
	}
	chunks := make([]franz.Chunk, len(distinct))
	for i, ref := range distinct {
		chunks[i] = ref.chunk
	}
	rb := readyBatch{batch: batch, ack: ack, chunks: chunks, last: last}
	if len(batch) == len(srcs) && !r.batchProcs {
		rb.srcs = srcs
	}
	if len(batch) == 0 {
		ack() // the batch processors filtered everything: delivered
		r.reportDelivered(rb)
		return
	}
	r.ready = append(r.ready, rb)
}

// discard empties a batcher whose records belong to a revoked assignment.
func (r *reader) discard(ctx context.Context, k partitionKey, pb *partitionBatcher) {
	n := len(pb.srcs)
	_, _ = pb.b.Flush(ctx)
	pb.srcs, pb.chunks, pb.last = nil, nil, nil
	pb.gen++
	r.met.revokedDropped(k.topic, k.partition, n)
}

// flushSlack: a batch whose period ends within it is flushed now. Benthos'
// UntilNext never reports less than 1ns, and timers fire a little late.
const flushSlack = time.Millisecond

// nextFlush is the shortest wait until a batching period expires, or in
// poll scope until the round being gathered stops waiting.
func (r *reader) nextFlush() (wait time.Duration, ok bool) {
	if r.rounds != nil {
		if deadline, pending := r.rounds.Pending(); pending {
			wait, ok = time.Until(deadline), true
		}
	}
	for _, pb := range r.batchers {
		if len(pb.srcs) == 0 {
			continue
		}
		if d, has := pb.b.UntilNext(); has && (!ok || d < wait) {
			wait, ok = d, true
		}
	}
	return wait, ok
}

func (r *reader) flushDue(ctx context.Context) {
	for _, pb := range r.batchers {
		if len(pb.srcs) == 0 {
			continue
		}
		if d, has := pb.b.UntilNext(); has && d <= flushSlack {
			r.flush(ctx, pb)
		}
	}
}

// stopOnDataLoss makes a fail_on_data_loss stop impossible to miss: Benthos
// treats the end of input as a normal end and the process exits 0 (see
// fatal.go), so say so in the log, raise a gauge and remember the error.
func (r *reader) stopOnDataLoss(err error) {
	r.met.stoppedOnDataLoss()
	recordFatal(fmt.Errorf("%w: %w", errDataLossStop, err))
	r.log.Errorf("KAFKA_FRANZ INPUT STOPPED ON DATA LOSS (fail_on_data_loss: true): %v. "+
		"Nothing after the loss was delivered or committed; the pipeline now shuts down and, unless the binary maps it (kafkafranz.ExitCode), "+
		"the process exits with status 0. To resume: accept the loss (fail_on_data_loss: false, or move the group's offsets past it) and restart.", err)
}

func (r *reader) Close(ctx context.Context) error {
	r.cons.Close()
	for _, pb := range r.batchers {
		_ = pb.b.Close(ctx)
	}
	return nil
}

// reportDelivered tells r.delivered the batch's last records, leaving out
// partitions with a stale chunk (revoked, or rewound by a transaction
// abort): their records were dropped, not delivered, and are read again.
func (r *reader) reportDelivered(rb readyBatch) {
	if r.delivered == nil {
		return
	}
	last, cloned := rb.last, false
	for _, ch := range rb.chunks {
		if k := (partitionKey{ch.Topic, ch.Partition}); !ch.Live() && last[k] != nil {
			if !cloned {
				last, cloned = maps.Clone(rb.last), true
			}
			delete(last, k)
		}
	}
	r.delivered(last)
}

// lastOf is the last record per partition of chunks in offset order, for
// reader.delivered (nil without it).
func (r *reader) lastOf(chunks []franz.Chunk) map[partitionKey]*kgo.Record {
	if r.delivered == nil {
		return nil
	}
	last := make(map[partitionKey]*kgo.Record, len(chunks))
	for _, ch := range chunks {
		last[partitionKey{ch.Topic, ch.Partition}] = ch.Records[len(ch.Records)-1]
	}
	return last
}
