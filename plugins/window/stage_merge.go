package window

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// mergeProcessor is stage 2 (stage: merge), on the internal topic. Each
// internal partition q is an engine of its own with its own checkpoint
// (<state.key>-<q>), so q's state moves with q between replicas: it is
// reloaded whenever q's assignment epoch changes. Without state.changelog,
// offsets are committed after the sink (at-least-once); a redelivered
// record is recognised by the applied offsets in q's state, and re-emits
// what it emitted.
//
// With state.changelog, q's state is not written to the cache: it leaves
// after the batch as a message (window_kind: state) that a kafka_franz
// output writes to a compacted changelog in the input's transaction, with
// the consumed offsets; state.cache is then a kafka_changelog cache on
// that topic. A replica that lost q cannot commit that transaction (the
// group generation fences it), so its older state never becomes q's.
type mergeProcessor struct {
	*processor
	check *engine.Engine // validates partials against the config's shape
	parts map[int32]*mergePartition
	// waitChangelog pauses between reads of a changelog state that is
	// behind q's first delivered offset (tests replace it).
	waitChangelog func(ctx context.Context) error
	// readState reads a key of state.cache (p.getKey; tests replace it).
	readState func(ctx context.Context, key string) ([]byte, error)
	// readMu makes the concurrent loads read one at a time (readSerial).
	readMu sync.Mutex
	// chunkBytes is the largest state written to a changelog as one record
	// (stateChunkBytes; tests lower it).
	chunkBytes int
	// delivered is, per internal partition, the offset below which the
	// input committed (p.acked, reported by the consumer): each q's engine
	// forgets the emissions of those records before its state is written,
	// instead of keeping the last retain_emissions (with many keys each is
	// megabytes, in every state write).
	delivered map[string]int64
}

type mergePartition struct {
	eng   *engine.Engine
	epoch int64
	// persisted is the digest of q's state as last written or loaded: an
	// equal snapshot is not written again. A digest, not the bytes: with
	// many keys each q's state is tens of MB (docs/benchmarks.md, "Many
	// keys, two stages").
	persisted stateDigest
	// token is q's fencing token: the group generation at which this
	// process was assigned q (-1: unknown, the input does not set it).
	token int64
}

var _ service.BatchProcessor = (*mergeProcessor)(nil)

func newMergeProcessor(c *procConfig, res *service.Resources, now func() time.Time) (*mergeProcessor, error) {
	check, err := engine.New(c.engine)
	if err != nil {
		return nil, err
	}
	p := &mergeProcessor{processor: newBase(c, res, now), check: check, parts: map[int32]*mergePartition{}, waitChangelog: pauseChangelog, chunkBytes: stateChunkBytes}
	p.readState = p.getKey
	p.unregisterAcked = commitbarrier.Process.OnAcked(p.acked.record)
	for _, c := range []*service.MetricCounter{p.m.mergeInput, p.m.mergeReplayed, p.m.mergeLate} {
		c.Incr(0) // from the start, as the window_* counters (metrics.go)
	}
	return p, nil
}

// stateKey is q's checkpoint key.
func (p *mergeProcessor) stateKey(q int32) string { return p.conf.key + "-" + strconv.Itoa(int(q)) }

func (p *mergeProcessor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	tagStage(batch) // also what Benthos passes on if this returns an error
	out := make([]*service.Message, len(batch))
	in := map[int32][]engine.MergeInput{}
	epochs := map[int32]int64{}
	tokens := map[int32]int64{}
	var ls chain
	for i, msg := range batch {
		if msg.GetError() != nil {
			out[i] = msg
			ls.noteMessage(msg)
			continue
		}
		if isHeartbeat(msg) {
			continue // stage 2 has no clock of its own: idleness comes in markers
		}
		x, err := p.decode(msg)
		if errors.Is(err, engine.ErrOtherStageConfig) || errors.Is(err, errShardCount) {
			return nil, p.holdForConfig(ctx, err, nil, 0) // config_hold.go
		}
		if err != nil {
			out[i] = p.reject(msg, "bad_window_input", err)
			ls.noteMessage(msg)
			continue
		}
		q := x.Pos.Partition
		ep, ok := metaInt(msg, epochMeta)
		if !ok {
			ep = -1
		}
		if prev, seen := epochs[q]; seen && prev != ep {
			return nil, fmt.Errorf("tumbling_window: internal partition %d has two values of %s (%d, %d) in one batch", q, epochMeta, prev, ep)
		}
		epochs[q] = ep
		if _, seen := tokens[q]; !seen {
			tokens[q] = -1
			if g, ok := metaInt(msg, generationMeta); ok {
				tokens[q] = g
			}
		}
		ls.note(msg, x.Pos)
		in[q] = append(in[q], x)
	}
	qs := make([]int32, 0, len(in))
	for q := range in {
		qs = append(qs, q)
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i] < qs[j] })

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("tumbling_window: processor is closed")
	}
	if err := p.awaitTurn(ctx, ls); err != nil {
		return nil, err
	}
	now := p.now()
	batches := passedOn(out)
	var applied, replayed, early int
	loaded, err := p.loadMoved(ctx, batch, qs, epochs, in)
	if err != nil {
		return nil, err
	}
	if acked, ok := p.acked.take(); ok {
		p.delivered = acked
	}
	for _, q := range qs {
		mp := p.parts[q]
		if p.delivered != nil {
			mp.eng.ForgetDelivered(p.delivered)
		}
		if loaded[q] { // q (re)loaded: taken over, or rewound
			mp.token = tokens[q]
			if mp.token > 0 {
				// Before q's rows: the sink raises q's fencing token, so that
				// q's previous owner can no longer commit, even before this
				// process has a window of q to write.
				batches = joined(batches, service.MessageBatch{p.fenceMessage(batch, q, mp.token)})
			}
		}
		res := mp.eng.Merge(in[q], now)
		p.m.observeInternal(in[q][0].Pos.Topic, q, mp.eng, now)
		for _, st := range res.Status {
			switch st {
			case engine.Applied:
				applied++
			case engine.Replayed:
				replayed++
			case engine.ClosedEarly:
				early++
			}
		}
		state, err := p.checkpointPartition(ctx, batch, q, mp)
		if err != nil {
			return nil, err
		}
		for _, em := range res.Emissions {
			b, err := p.emissionBatch(batch, em)
			if err != nil {
				return nil, err
			}
			for k, m := range b {
				m.MetaSetMut(statePartitionMeta, int64(q))
				if mp.token > 0 {
					m.MetaSetMut(fenceTokenMeta, mp.token)
				}
				if s := em.Rows[k].Seq; s != 0 {
					m.MetaSetMut("window_emit_seq", s)
				}
			}
			batches = joined(batches, b)
		}
		if state != nil { // after q's rows: the same transaction commits both
			batches = joined(batches, state)
		}
	}
	p.passed(ls)
	p.observeMerge(applied, replayed, early, now)
	for _, b := range batches {
		tagStage(b)
	}
	return batches, nil
}

// tagStage sets stageMeta on every message stage merge passes on, so that a
// stage local in the same pipeline lets them through and the output can
// route stage 2's dead letters to its own transaction. Set here, not by a
// mutation after the processor: a Bloblang mutation parses every message's
// body to JSON and the output then writes it back out (the state messages
// too), about 2 % of one replica's CPU (docs/benchmarks.md, session 24).
func tagStage(b service.MessageBatch) {
	for _, m := range b {
		m.MetaSetMut(stageMeta, "merge")
	}
}

// fenceMessage is the message that tells the sink q was taken over by the
// holder of token (metadata window_kind: fence, window_state_partition,
// window_fence_token); it carries no row.
func (p *mergeProcessor) fenceMessage(batch service.MessageBatch, q int32, token int64) *service.Message {
	m := derived(template(batch), fmt.Appendf(nil, `{"partition":%d,"token":%d}`, q, token))
	m.MetaSetMut(kindMeta, kindFence)
	m.MetaSetMut(statePartitionMeta, int64(q))
	m.MetaSetMut(fenceTokenMeta, token)
	return m
}

// decode reads one record of the internal topic.
func (p *mergeProcessor) decode(msg *service.Message) (engine.MergeInput, error) {
	x := engine.MergeInput{}
	pos, ok := position(msg)
	if !ok {
		return x, errors.New("tumbling_window: stage merge needs metadata kafka_topic, kafka_partition and kafka_offset (set by the kafka_franz input on the internal topic)")
	}
	x.Pos, x.HasPos = pos, true
	body, err := msg.AsBytes()
	if err != nil {
		return x, err
	}
	kind, _ := msg.MetaGet(kindMeta)
	switch kind {
	case kindPartial:
		if x.Partial, err = engine.DecodePartial(body); err == nil {
			err = p.check.CheckPartial(x.Partial)
		}
	case kindMarker:
		x.Marker, err = engine.DecodeMarker(body)
	case kindBundle:
		if x.Bundle, err = engine.DecodeBundle(body); err == nil {
			err = p.check.CheckBundle(x.Bundle)
		}
		if err == nil {
			err = checkShards(msg, pos, x.Bundle)
		}
	default:
		err = fmt.Errorf("metadata %s is %q, want partial, marker or bundle (a record of the internal topic written by stage partial or local)", kindMeta, kind)
	}
	if err != nil {
		return x, fmt.Errorf("tumbling_window: %s offset %d: %w", pos.Key(), pos.Offset, err)
	}
	return x, nil
}

// loadPartition reads q's engine from its checkpoint, for q new to this
// process or at a new assignment epoch: another replica may have moved its
// state on meanwhile. part is q's topic/partition key and reach the offset
// its state must have applied (stateMustReach). It does not touch p.parts,
// so that the qs of a batch load concurrently (loadMoved).
func (p *mergeProcessor) loadPartition(ctx context.Context, q int32, epoch int64, part string, reach int64) (*mergePartition, error) {
	for tries := 0; ; tries++ {
		mp, err := p.loadPartitionOnce(ctx, q, epoch, part, reach)
		u, ok := errors.AsType[unrestorable](err)
		if !ok {
			return mp, err
		}
		// Held, and read again: its owner may rewrite it (config_hold.go).
		if err := p.holdForConfig(ctx, u.err, p.waitChangelog, tries); err != nil {
			return nil, err
		}
	}
}

// loadPartitionOnce is one read of q's state; unrestorable if it does not
// restore.
func (p *mergeProcessor) loadPartitionOnce(ctx context.Context, q int32, epoch int64, part string, reach int64) (*mergePartition, error) {
	key := p.stateKey(q)
	var eng *engine.Engine
	var data []byte
	// A changelog state is read again while it is behind reach, as stage 1
	// does: readCaughtUp.
	tries, behind, err := readCaughtUp(ctx, p.log, fmt.Sprintf("internal partition %d", q), p.waitChangelog, func() (bool, error, error) {
		var pending, err error
		// A failed read is retried, not the batch failed (readStateRetrying).
		if data, pending, err = readStateRetrying(ctx, p.log, "merge", readSerial(&p.readMu, joinChunks(p.readState)), p.waitChangelog, key); err != nil {
			return false, nil, err
		}
		if eng, err = engine.New(p.conf.engine); err != nil {
			return false, nil, err
		}
		if data != nil {
			if err := eng.Restore(data); err != nil {
				return false, nil, unrestorable{fmt.Errorf("state.key %q in cache %q: %w", key, p.conf.cache, err)}
			}
		}
		return p.conf.changelog && reach >= 0 && eng.AppliedHigh(part) < reach, pending, nil
	})
	if err != nil {
		return nil, err
	}
	if behind {
		p.log.Debugf("tumbling_window: internal partition %d must resume after offset %d, its changelog state is at offset %d after %d reads (offset gaps, or no state)", q, reach, eng.AppliedHigh(part), tries)
	}
	mp := &mergePartition{eng: eng, epoch: epoch, persisted: digestOf(data)}
	p.log.Infof("tumbling_window: internal partition %d (epoch %d) loaded from %q (%d bytes): %d open windows, last emission %d",
		q, epoch, key, len(data), eng.OpenGroups(), eng.Seq())
	return mp, nil
}

// checkpointPartition writes q's state if it changed; on failure q's engine
// is dropped, so the next batch reloads what is durable. With
// state.changelog it returns the state as messages instead (one, or its
// chunks: splitState): if their transaction aborts, the input rewinds q
// with a new epoch and q is reloaded.
func (p *mergeProcessor) checkpointPartition(ctx context.Context, batch service.MessageBatch, q int32, mp *mergePartition) (service.MessageBatch, error) {
	data, err := mp.eng.Snapshot()
	sum := digestOf(data)
	if err == nil && sum == mp.persisted {
		return nil, nil
	}
	if err == nil && p.conf.changelog {
		var out service.MessageBatch
		for i, chunk := range splitState(data, p.chunkBytes) {
			m := derived(template(batch), chunk)
			m.MetaSetMut(kindMeta, kindState)
			m.MetaSetMut(changelogKeyMeta, chunkKey(p.stateKey(q), i))
			m.MetaSetMut(statePartitionMeta, int64(q)) // the changelog's partition: q
			out = append(out, m)
		}
		mp.persisted = sum
		return out, nil
	}
	if err == nil {
		key := p.stateKey(q)
		err = p.persist(ctx, key, data, func(ctx context.Context, d []byte) error { return p.setKey(ctx, key, d) })
	}
	if err != nil {
		delete(p.parts, q)
		return nil, err
	}
	mp.persisted = sum
	return nil, nil
}

func (p *mergeProcessor) observeMerge(applied, replayed, early int, now time.Time) {
	p.m.mergeInput.Incr(int64(applied))
	p.m.mergeReplayed.Incr(int64(replayed))
	p.m.mergeLate.Incr(int64(early))
	// Closed early: the window closed while a source partition was idle, and
	// that partition's partial came after. Counted here too (in partials), so
	// the alert on it fires whichever stage dropped rows.
	p.m.closedEarly.Incr(int64(early))
	open, low, any := 0, int64(0), false
	for _, mp := range p.parts {
		open += mp.eng.OpenGroups()
		if wm, ok := mp.eng.Watermark(); ok && (!any || wm < low) {
			low, any = wm, true
		}
	}
	p.m.open.Set(int64(open))
	if any {
		p.m.watermark.Set(low)
		p.m.lag.Set(int64(now.Sub(time.UnixMilli(low)).Seconds()))
	}
}
