package window

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/ownership"
	"github.com/miaradia/rides-connect/internal/ratelog"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Metadata of the two-stage (scale-out) contract with kafka_franz
// (docs/scale-out.md).
const (
	epochMeta          = "kafka_assignment_epoch"  // input: changes on every (re)assignment or rewind of a partition
	startMeta          = "kafka_assignment_offset" // input: the committed offset the epoch resumed from, -1: none
	kindMeta           = "window_kind"             // partial | marker | state
	groupKeyMeta       = "window_group_key"        // partial: the record key of the internal topic
	markerPartMeta     = "window_marker_partition" // marker: target partition of the internal topic
	changelogKeyMeta   = "window_changelog_key"    // changelog record key: source partition (marker) or <state.key>-<q> (state)
	statePartitionMeta = "window_state_partition"  // the state's partition: q (merge output), p (partial's changelog copy)
	kindPartial        = "partial"
	kindMarker         = "marker"
	kindBundle         = "bundle"                    // stage local: a source partition's final partials and progress (engine.Bundle)
	kindState          = "state"                     // merge with state.changelog: q's state for the changelog
	kindFence          = "fence"                     // merge: q was taken over, raise its fencing token downstream
	generationMeta     = "kafka_group_generation"    // input: group generation at which q was assigned
	fenceTokenMeta     = "window_fence_token"        // merge output: q's fencing token (rows and fence)
	advancedMeta       = "window_watermark_advanced" // marker: moved its partition's watermark past a window end (or idleness)
)

// partialProcessor is stage 1 (stage: partial). Its only state is each
// source partition's progress, which it emits after every batch (the
// changelog copy of the markers, produced in the same Kafka transaction as
// the partials and the consumed offsets) and reads back from state.cache
// when the partition's assignment epoch changes.
type partialProcessor struct {
	*processor
	eng    *engine.PartialEngine
	epochs map[string]int64 // topic/partition → epoch its state was loaded at
	// waitChangelog pauses between reads of a changelog state that is
	// behind the partition's first delivered offset (tests replace it).
	waitChangelog func(ctx context.Context) error
	// readState reads a key of state.cache (p.getKey; tests replace it).
	readState func(ctx context.Context, key string) ([]byte, error)
	// readMu makes the concurrent loads read one at a time (readSerial).
	readMu sync.Mutex
	// owners tells which source partitions this process's consumers own
	// (tests replace it).
	owners *ownership.Record
	keys   engine.PartitionKeys // Position.Key without an allocation per run (mu)
	// lostHeld counts the partitions held on a missing changelog state
	// (window_state_lost); holdLogs spaces their ERROR lines.
	lostHeld     int64
	holdLogs     ratelog.Limiter
	commitWarned bool // the input does not set kafka_assignment_commit: warned once
}

var _ service.BatchProcessor = (*partialProcessor)(nil)

func newPartialProcessor(c *procConfig, res *service.Resources, now func() time.Time) (*partialProcessor, error) {
	eng, err := engine.NewPartial(c.engine)
	if err != nil {
		return nil, err
	}
	p := &partialProcessor{processor: newBase(c, res, now), eng: eng, epochs: map[string]int64{}, waitChangelog: pauseChangelog,
		owners: ownership.Process}
	p.readState = p.getKey
	return p, nil
}

func (p *partialProcessor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	// Pooled buffers, as stage full's: fresh ones were ~150 bytes per ride
	// to collect (docs/benchmarks.md, "Scale-out, one replica"). Nothing
	// below keeps rows or out past the return: the engine copies values
	// into its partials, which are encoded before.
	bufs := getRowBufs()
	defer bufs.release()
	out, rows, idx, ls := p.extractInto(batch, bufs)
	rows, idx = p.keepPositioned(batch, out, rows, idx, "partial")

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("tumbling_window: processor is closed")
	}
	if err := p.awaitTurn(ctx, ls); err != nil {
		return nil, err
	}
	now := p.now()
	if err := p.reloadMoved(ctx, batch, out, rows, idx, now); err != nil {
		return nil, err
	}
	p.forgetLost(rows)
	res := p.eng.Process(rows, now)
	covered := p.coverDeadLetters(batch, out, &res)
	applied, late, replayed, early := p.tally(batch, out, idx, res.Status, res.LateWindowEndUs)
	p.passed(ls)
	p.observeStageOne(applied, late, replayed, early)
	p.m.observeSources(res.Markers)

	batches := passedOn(out)
	if len(res.Partials)+len(res.Markers)+len(covered) > 0 {
		b, err := stageOneBatch(template(batch), res, covered)
		if err != nil {
			return nil, err
		}
		batches = joined(batches, b)
	}
	// As stage full (release): the rides folded into partials are not read
	// again. A failed batch keeps everything (the returns above): Benthos
	// passes it on whole, errored. After an aborted transaction kafka_franz
	// rewinds and fetches the records again as new messages; dead letters
	// and the partials and markers (derived from template) are copies.
	release(batch, out)
	return batches, nil
}

// keepPositioned rejects (dead letter missing_position) the rows without a
// Kafka position or partition count: a stage 1 judges every row against its
// source partition and must know how many internal partitions get its
// output. It returns the rows kept and their message indexes.
func (p *processor) keepPositioned(batch service.MessageBatch, out []*service.Message, rows []engine.Row, idx []int, stage string) ([]engine.Row, []int) {
	keep := 0
	for j := range rows {
		if !rows[j].Heartbeat && (!rows[j].HasPos || rows[j].Partitions <= 0) {
			out[idx[j]] = p.reject(batch[idx[j]], "missing_position", fmt.Errorf(
				"tumbling_window: stage %s needs metadata kafka_topic, kafka_partition, kafka_offset and kafka_topic_partitions (set by the kafka_franz input)", stage))
			continue
		}
		rows[keep], idx[keep] = rows[j], idx[j]
		keep++
	}
	return rows[:keep], idx[:keep]
}

// forgetLost drops the progress of the source partitions this process no
// longer owns (another replica took them over), except those of the batch.
// Remembered, they would be announced idle once the idle timeout passed:
// with this replica's old progress, to every internal partition (stage 2
// leaves the partition out if that offset is past the new owner's markers,
// e.g. after this replica's last transaction aborted). Only with an idle
// timeout: without one a partition's state is only used with its own rows.
// A partition that comes back has a new assignment epoch and is reloaded.
func (p *partialProcessor) forgetLost(rows []engine.Row) {
	if p.conf.engine.IdleTimeout <= 0 || p.owners == nil {
		return
	}
	inBatch := map[engine.Position]bool{}
	for j := range rows {
		if !rows[j].Heartbeat {
			inBatch[engine.Position{Topic: rows[j].Pos.Topic, Partition: rows[j].Pos.Partition}] = true
		}
	}
	p.eng.Forget(func(topic string, partition int32) bool {
		if inBatch[engine.Position{Topic: topic, Partition: partition}] {
			return true
		}
		owned, known := p.owners.Owns(topic, partition)
		if !owned && known {
			delete(p.epochs, engine.Position{Topic: topic, Partition: partition}.Key())
		}
		return owned || !known
	})
}

// reloadMoved loads, for every partition of the batch whose assignment
// epoch is not the one its state was loaded at, its state from the
// changelog: the partition was (re)assigned to this process or rewound
// after an aborted transaction, and the state must be the one committed
// with its offsets. The reads run concurrently (a partition whose state is
// behind waits for it without holding up the others); the states are then
// loaded in the batch's order.
func (p *partialProcessor) reloadMoved(ctx context.Context, batch service.MessageBatch, out []*service.Message, rows []engine.Row, idx []int, now time.Time) error {
	type move struct {
		k   string
		pos engine.Position
		ep  int64
		m   *service.Message // of the partition: its commit metadata
	}
	var moves []move
	seen := map[string]int64{}
	var keys engine.PartitionKeys
	for j := 0; j < len(rows); j++ {
		if rows[j].Heartbeat {
			continue
		}
		// The epoch is read at the first and last rows of each run of one
		// partition's rows, not per row (it was ~2 % of the job's CPU):
		// epochs only grow (order.go relies on it too) and a batch holds a
		// partition's rows in delivery order, so a run whose ends agree has
		// one epoch. kafka_franz never hands out two epochs of a partition
		// in one batch (a partition's batcher drops what a closed
		// assignment left before it takes records of the next), and a run
		// whose ends differ fails the batch below.
		pos, k, end := rows[j].Pos, keys.Of(rows[j].Pos), runEnd(rows, j)
		ep := epochOf(batch[idx[j]])
		if end > j {
			if last := epochOf(batch[idx[end]]); last != ep {
				return twoEpochs(k, ep, last)
			}
			j = end
		}
		if prev, dup := seen[k]; dup {
			if prev != ep {
				return twoEpochs(k, prev, ep)
			}
			continue
		}
		seen[k] = ep
		if cur, ok := p.epochs[k]; ok && cur == ep {
			continue
		}
		moves = append(moves, move{k, pos, ep, batch[idx[j]]})
	}
	// A partition only dead letters name is loaded too: its changelog copy,
	// committed with their offsets, must follow its state (coverDeadLetters).
	for _, run := range batchPartitions(batch, out, nil, nil, &p.keys) {
		if _, ok := seen[run.k]; ok {
			continue
		}
		ep := epochOf(batch[run.i])
		seen[run.k] = ep
		if cur, ok := p.epochs[run.k]; ok && cur == ep {
			continue
		}
		moves = append(moves, move{run.k, run.pos, ep, batch[run.i]})
	}
	markers := make([]*engine.Marker, len(moves))
	errs := make([]error, len(moves))
	var wg sync.WaitGroup
	for i, mv := range moves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			markers[i], errs[i] = p.readChangelog(ctx, mv.pos.Partition, stateMustReach(batch, mv.k))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, mv := range moves {
		if markers[i] == nil {
			m, err := p.awaitLostProgress(ctx, mv.pos, mv.m)
			if err != nil {
				return err
			}
			markers[i] = m
		}
	}
	for i, mv := range moves {
		m := markers[i]
		p.eng.Load(mv.pos.Topic, mv.pos.Partition, m, now)
		p.epochs[mv.k] = mv.ep
		if m != nil {
			p.log.Debugf("tumbling_window: %s (epoch %d) resumes at offset %d, max event time %d ms", mv.k, mv.ep, m.Offset, m.MaxMs)
		}
	}
	return nil
}

// runEnd is the index of the last row of the run of rows[j]'s partition
// that starts at j (heartbeats end a run; a notice's row is a run of one).
func runEnd(rows []engine.Row, j int) int {
	if rows[j].Heartbeat {
		return j
	}
	pos := rows[j].Pos
	for j+1 < len(rows) && !rows[j+1].Heartbeat && rows[j+1].Pos.Partition == pos.Partition && rows[j+1].Pos.Topic == pos.Topic {
		j++
	}
	return j
}

func twoEpochs(k string, a, b int64) error {
	return fmt.Errorf("tumbling_window: %s has two values of %s (%d, %d) in one batch", k, epochMeta, a, b)
}

// epochOf is a message's assignment epoch, -1 for an input without epochs
// (its partitions are loaded once, at first sight).
func epochOf(m *service.Message) int64 {
	ep, ok := metaInt(m, epochMeta)
	if !ok {
		return -1
	}
	return ep
}

// readChangelog reads partition's state, again while it is behind reach
// (stateMustReach): readCaughtUp.
func (p *partialProcessor) readChangelog(ctx context.Context, partition int32, reach int64) (*engine.Marker, error) {
	var m *engine.Marker
	what := fmt.Sprintf("source partition %d", partition)
	tries, behind, err := readCaughtUp(ctx, p.log, what, p.waitChangelog, func() (bool, error, error) {
		data, pending, err := p.getKeyRetrying(ctx, strconv.Itoa(int(partition)))
		if err != nil {
			return false, nil, err
		}
		m = nil
		if data != nil {
			if m, err = engine.DecodeMarker(data); err != nil {
				return false, nil, fmt.Errorf("state.cache %q key %d: %w", p.conf.cache, partition, err)
			}
		}
		return reach >= 0 && (m == nil || m.Offset < reach), pending, nil
	})
	if err != nil {
		return nil, err
	}
	if behind {
		p.log.Debugf("tumbling_window: partition %d must resume after offset %d, its changelog state is at %v after %d reads (offset gaps, or no state)", partition, reach, m, tries)
	}
	return m, nil
}

// getKeyRetrying reads key from state.cache until a read succeeds or ctx
// ends (readStateRetrying).
func (p *partialProcessor) getKeyRetrying(ctx context.Context, key string) (data []byte, pending, err error) {
	return readStateRetrying(ctx, p.log, "partial", readSerial(&p.readMu, p.readState), p.waitChangelog, key)
}

// firstOffset is the lowest offset of partition key k among the batch's
// messages (errored ones included: they were delivered too).
func firstOffset(batch service.MessageBatch, k string) int64 {
	first := int64(-1)
	for _, msg := range batch {
		if pos, ok := position(msg); ok && pos.Key() == k && (first < 0 || pos.Offset < first) {
			first = pos.Offset
		}
	}
	return first
}

func (p *processor) observeStageOne(applied, late, replayed, early int) {
	p.m.input.Incr(int64(applied))
	p.m.late.Incr(int64(late))
	p.m.closedEarly.Incr(int64(early))
	p.m.replayed.Incr(int64(replayed))
}

// stageOneBatch renders a stage-1 result: the partials first, then the
// markers (one per internal partition, then the changelog copy, except for
// an idle marker), then the changelog copies of covered. The order
// matters: in each internal partition a source partition's marker must
// follow the partials it covers.
func stageOneBatch(tmpl *service.Message, res engine.PartialResult, covered []engine.Marker) (service.MessageBatch, error) {
	var out service.MessageBatch
	for i := range res.Partials {
		body, err := engine.EncodePartial(&res.Partials[i])
		if err != nil {
			return nil, err
		}
		m := derived(tmpl, body)
		m.MetaSetMut(kindMeta, kindPartial)
		m.MetaSetMut(groupKeyMeta, res.Partials[i].Key)
		out = append(out, m)
	}
	for i := range res.Markers {
		mk := &res.Markers[i]
		body, err := engine.EncodeMarker(mk)
		if err != nil {
			return nil, err
		}
		for q := int32(0); q < mk.Partitions; q++ {
			m := derived(tmpl, body)
			m.MetaSetMut(kindMeta, kindMarker)
			m.MetaSetMut(markerPartMeta, int64(q))
			if i < len(res.Advanced) && res.Advanced[i] {
				// It may let stage 2 close a window: a kafka_franz output with
				// transaction.end_early_on_metadata set to this key commits it at once.
				m.MetaSetMut(advancedMeta, "true")
			}
			out = append(out, m)
		}
		// An idle marker is announced in a batch of another partition: its
		// copy would be produced unordered against the idle partition's own
		// next batch, or by a replica that lost the partition and still
		// remembers it, and could leave the changelog on an older state than
		// the one committed with the partition's offsets. Only a partition's
		// own batches write its changelog (a reload then starts non-idle and
		// announces idleness again after the timeout; stage 2 already has it).
		if mk.Idle {
			continue
		}
		out = append(out, changelogCopy(tmpl, body, mk.Partition))
	}
	for i := range covered {
		body, err := engine.EncodeMarker(&covered[i])
		if err != nil {
			return nil, err
		}
		out = append(out, changelogCopy(tmpl, body, covered[i].Partition))
	}
	return out, nil
}

// changelogCopy is source partition p's progress for the changelog. It
// goes to partition p of the changelog topic: an open transaction of a
// replica that died then holds back only the partitions it owned, not
// every partition's progress.
func changelogCopy(tmpl *service.Message, body []byte, p int32) *service.Message {
	m := derived(tmpl, body)
	m.MetaSetMut(kindMeta, kindMarker)
	m.MetaSetMut(changelogKeyMeta, strconv.Itoa(int(p)))
	m.MetaSetMut(statePartitionMeta, int64(p))
	return m
}
