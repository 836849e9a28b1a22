package window

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
	"github.com/miaradia/rides-connect/internal/ownership"
	"github.com/miaradia/rides-connect/internal/ratelog"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// stageMeta marks the messages a stage merge passes on (tagStage): stage
// local, in the same pipeline, lets a batch that starts with one through
// untouched.
const stageMeta = "window_stage"

// localProcessor is stage 1 without Kafka transactions (stage: local,
// engine.LocalEngine). Each source partition's state is written to
// state.cache (a checkpoint cache) before every offset commit of the input
// (the commit barrier, as state.sync: commit), under a key named after the
// offset that commit will make, and read back, under the offset the group
// committed, when the partition's assignment epoch changes; its bundles
// leave as messages for the internal topic (window_kind: bundle,
// window_marker_partition: the internal partition).
//
// A key per commit, not one per partition: a write from a process that lost
// the partition (paused, or SIGKILLed with the write in flight) can land
// after the new owner's, and the cache has no compare-and-set; in one key it
// replaced a newer state with one behind the group's commit, and the next
// owner held the partition for good. The group's commit, fenced by Kafka,
// names the one state that covers it.
type localProcessor struct {
	*processor
	eng    *engine.LocalEngine
	epochs map[string]int64 // topic/partition → epoch its state was loaded at
	// lastEpoch is the latest epoch each partition was loaded at, kept
	// when it is forgotten: a batch of an older epoch, or of that one once
	// forgotten, is stale (staleRuns).
	lastEpoch map[string]int64
	fences    map[string]int64 // topic/partition → generation it was assigned at
	// written is, per partition, the commit offsets whose states this
	// process wrote or loaded and has not deleted; accepted the highest
	// offset the broker took a commit of (commitbarrier.OnCommitted). The
	// next flush deletes the states below it. Guarded by mu.
	written        map[string]*stateTrail
	accepted       map[string]int64
	unregisterDone func()
	// committing is, per partition, the offset its consumer is about to
	// commit (commitbarrier.OnCommitting), stamped on the state written
	// for that commit; guarded by mu.
	committing        map[string]engine.Position
	unregisterCommits func()
	// carry holds the partitions committed before this process loaded
	// them (stage_local_carry.go); guarded by mu.
	carry      map[string]carried
	dirty      map[string]engine.Position // partitions changed since their last write
	stateSizes map[string]int             // bytes of each partition's last state (window_state_bytes: their sum)
	keys       engine.PartitionKeys       // Position.Key without an allocation per run (mu)
	owners     *ownership.Record
	// readState reads a key of state.cache (tests replace it).
	readState func(ctx context.Context, key string) ([]byte, error)
	readMu    sync.Mutex
	// wmu makes flushes run one at a time.
	wmu      sync.Mutex
	holdLogs ratelog.Limiter
	lostHeld atomic.Int64 // partitions held on a missing or behind state (window_state_lost)
	// kept is the set of topics whose partitions this processor has loaded
	// (its own lock: the barrier asks from a consumer's goroutine while a
	// batch holds mu).
	kept keptTopicSet
	// sender writes the bundles with bundles.output (nil: they are passed
	// on as messages).
	sender *bundleSender
}

var _ service.BatchProcessor = (*localProcessor)(nil)

func newLocalProcessor(c *procConfig, res *service.Resources, now func() time.Time) (*localProcessor, error) {
	eng, err := engine.NewLocal(c.engine)
	if err != nil {
		return nil, err
	}
	p := &localProcessor{processor: newBase(c, res, now), eng: eng, epochs: map[string]int64{}, lastEpoch: map[string]int64{}, fences: map[string]int64{},
		dirty: map[string]engine.Position{}, committing: map[string]engine.Position{}, stateSizes: map[string]int{}, owners: ownership.Process,
		written: map[string]*stateTrail{}, accepted: map[string]int64{}, carry: map[string]carried{}}
	p.readState = p.getKey
	p.keptTopics = p.kept.list
	// Scoped to the topics it keeps state for: the internal topic's
	// consumer (stage merge, in the same process) commits without waiting
	// for this flush, and a failed write here does not abort its
	// transaction.
	p.unregister = commitbarrier.Process.RegisterFor(p.flushLocal, p.kept.has)
	if c.bundlesOutput != "" {
		// The acknowledgements of batches say nothing of bundles written
		// apart: the sender reports their delivery.
		p.sender = newBundleSender(outputWriter(res, c.bundlesOutput), p.deliveredBundles, c.bundlesPeriod, c.bundlesMaxPending, p.log, p.m)
		p.sender.start()
	} else {
		p.unregisterAcked = commitbarrier.Process.OnAcked(p.acked.record)
	}
	p.unregisterCommits = commitbarrier.Process.OnCommitting(p.noteCommitting)
	p.unregisterDone = commitbarrier.Process.OnCommitted(p.noteCommitted)
	return p, nil
}

// noteCommitted is the commit barrier's OnCommitted listener.
func (p *localProcessor) noteCommitted(topic string, partition int32, next int64) {
	k := engine.Position{Topic: topic, Partition: partition}.Key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, mine := p.epochs[k]; mine && next > p.accepted[k] {
		p.accepted[k] = next
	}
}

// noteCommitting is the commit barrier's OnCommitting listener. A
// partition this process has not loaded is carried (carryUnloaded): every
// record of it the consumer commits was dropped before the window.
func (p *localProcessor) noteCommitting(topic string, partition int32, next, from int64) {
	pos := engine.Position{Topic: topic, Partition: partition, Offset: next}
	k := pos.Key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, mine := p.epochs[k]; !mine {
		if owned, known := p.owners.Owns(topic, partition); known && !owned {
			return // another input's partition that moved away
		}
		if c, ok := p.carry[k]; !ok || next > c.next {
			p.carry[k] = carried{pos: engine.Position{Topic: topic, Partition: partition}, next: next, from: from}
			p.kept.add(topic) // the flush before this commit must run
		}
		return
	}
	if next > p.committing[k].Offset {
		p.committing[k] = pos
		p.dirty[k] = engine.Position{Topic: topic, Partition: partition}
	}
}

// errLocalUnreadable marks a stored state that is not one: held even with
// state.on_lost: resume (it may be another config's key).
var errLocalUnreadable = errors.New("not a stage local state")

// localKey is the state.cache key of a source partition's state that
// covers the group's commit at offset commit: <state.key>-<topic>-<partition>@<commit>.
func (p *localProcessor) localKey(pos engine.Position, commit int64) string {
	return p.legacyKey(pos) + "@" + strconv.FormatInt(commit, 10)
}

// legacyKey is the one key per partition earlier versions wrote: read when
// the group has no commit of progress, or when no state is named after its
// commit (a job started on a checkpoint of an earlier version).
func (p *localProcessor) legacyKey(pos engine.Position) string {
	return p.conf.key + "-" + pos.Topic + "-" + strconv.Itoa(int(pos.Partition))
}

func (p *localProcessor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	if len(batch) > 0 {
		if _, ok := batch[0].MetaGetMut(stageMeta); ok {
			return []service.MessageBatch{batch}, nil
		}
	}
	if p.sender != nil {
		if err := p.sender.waitRoom(ctx); err != nil {
			return nil, err
		}
	}
	bufs := getRowBufs()
	defer bufs.release()
	out, rows, idx, ls := p.extractInto(batch, bufs)
	rows, idx = p.keepPositioned(batch, out, rows, idx, "local")

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("tumbling_window: processor is closed")
	}
	if err := p.awaitTurn(ctx, ls); err != nil {
		return nil, err
	}
	now := p.now()
	// The batch's partitions, listed once for both: dropStaleRuns leaves
	// the batch's indexes as they are, and loadMoved skips the stale runs.
	runs := batchPartitions(batch, out, rows, idx, &p.keys)
	if stale := p.staleRuns(batch, runs); len(stale) > 0 {
		rows, idx = dropStaleRuns(batch, out, rows, idx, stale)
		p.m.staleDropped.Incr(1)
	}
	if err := p.loadMoved(ctx, batch, runs, now); err != nil {
		return nil, err
	}
	res := p.eng.Process(rows, now)
	applied, late, replayed, early := p.tally(batch, out, idx, res.Status, res.LateWindowEndUs)
	p.passed(ls)
	p.observeStageOne(applied, late, replayed, early)
	p.m.open.Set(int64(p.eng.OpenGroups()))
	if mx, ok := p.eng.MaxEventMs(); ok {
		p.m.maxEvent.Set(mx)
	}
	var sources []engine.Marker
	for j := 0; j < len(rows); j++ {
		if !rows[j].Heartbeat {
			pos := rows[j].Pos
			p.dirty[p.keys.Of(pos)] = engine.Position{Topic: pos.Topic, Partition: pos.Partition}
			j = runEnd(rows, j) // a run of one partition's rows: one entry
		}
	}
	for i := range res.Bundles {
		src := res.Bundles[i].Source
		if src.Offset >= 0 { // an idle flush changes the state too
			pos := engine.Position{Topic: src.Topic, Partition: src.Partition}
			p.dirty[pos.Key()] = pos
		}
		sources = append(sources, src)
	}
	p.m.observeSources(sources)

	batches := passedOn(out)
	if len(batches) > 0 && p.fencedNow(ctx) {
		// A paused process that resumed would send the dead letters its
		// partitions' new owner sends too (stage full's rule, fencedNow).
		p.m.staleDropped.Incr(1)
		return nil, nil
	}
	if len(res.Bundles) > 0 && p.sender != nil {
		p.sender.add(res.Bundles)
	} else if len(res.Bundles) > 0 {
		b, err := bundleBatch(template(batch), res.Bundles)
		if err != nil {
			return nil, err
		}
		batches = joined(batches, b)
	}
	release(batch, out)
	return batches, nil
}

// ofPartition reports a row that stands for one source partition: a
// record's, or a notice's (noticeRow: it names its topic), not a clock
// tick.
func ofPartition(r *engine.Row) bool {
	return !r.Heartbeat || r.Pos.Topic != ""
}

// bundleBatch renders bundles as messages for the internal topic.
func bundleBatch(tmpl *service.Message, bundles []engine.Bundle) (service.MessageBatch, error) {
	out := make(service.MessageBatch, 0, len(bundles))
	for i := range bundles {
		b := &bundles[i]
		body, err := engine.EncodeBundle(b)
		if err != nil {
			return nil, err
		}
		m := derived(tmpl, body)
		m.MetaSetMut(kindMeta, kindBundle)
		m.MetaSetMut(markerPartMeta, int64(b.Shard))
		m.MetaSetMut(groupKeyMeta, engine.Position{Topic: b.Source.Topic, Partition: b.Source.Partition}.Key())
		out = append(out, m)
	}
	return out, nil
}

// loadMoved loads the state of every partition of the batch at an
// assignment epoch its state was not loaded at: the partition was
// (re)assigned to this process, and another replica may have moved its
// state on meanwhile. A partition's notice (caught-up, or empty-partition)
// loads it too. Its predecessor may have died with bundles unwritten after
// committing past their records: a notice is then the new owner's only
// word of the partition. Without the state it would not send them again,
// it would announce the partition empty, and stage 2 would close the
// windows without them.
func (p *localProcessor) loadMoved(ctx context.Context, batch service.MessageBatch, runs []partitionRun, now time.Time) error {
	for _, run := range runs {
		k, pos, m := run.k, run.pos, batch[run.i]
		ep := epochOf(m)
		if cur, ok := p.epochs[k]; ok && cur == ep {
			continue
		}
		if p.staleEpoch(k, ep) { // dropped by dropStaleRuns
			continue
		}
		gen, _ := metaInt(m, generationMeta)
		// Only a commit of progress must be covered by a state: the start
		// offset that start_offset: latest commits at assignment is not.
		start := int64(-1)
		if kind, _ := metaString(m, commitMeta); kind == commitProgress {
			if s, ok := metaInt(m, startMeta); ok {
				start = s
			}
		}
		if err := p.loadPartition(ctx, pos, gen, start, now); err != nil {
			return err
		}
		// A carried partition (stage_local_carry.go) keeps the states it
		// wrote and the commit it reached: they are newer than start.
		var trail *stateTrail
		committed := start
		if p.epochs[k] == carriedEpoch {
			trail, committed = p.written[k], max(start, p.committing[k].Offset)
		}
		p.epochs[k], p.fences[k] = ep, gen
		p.lastEpoch[k] = max(p.lastEpoch[k], ep)
		delete(p.dirty, k)
		delete(p.written, k)
		delete(p.accepted, k)
		if start >= 0 { // deleted once a commit past it is accepted
			if trail == nil {
				trail = &stateTrail{pos: engine.Position{Topic: pos.Topic, Partition: pos.Partition}}
			}
			trail.add(start)
		}
		if trail != nil {
			p.written[k] = trail
		}
		// Until the input commits past it, the group's commit of the
		// partition stays the one it was assigned at: a state written
		// before then covers that one, not offset 0 (which would make the
		// next owner hold the partition).
		delete(p.committing, k)
		if committed > 0 {
			p.committing[k] = engine.Position{Topic: pos.Topic, Partition: pos.Partition, Offset: committed}
		}
	}
	return nil
}

// loadPartition reads one partition's state and loads it. A state behind
// the offset the group committed (start) would lose the records between:
// it is held, and read again, until one that reaches it is there.
func (p *localProcessor) loadPartition(ctx context.Context, pos engine.Position, gen, start int64, now time.Time) error {
	p.kept.add(pos.Topic) // before any state of it: the barrier flushes for it from now on
	held := false
	defer func() {
		if held { // window_state_lost counts the partitions held now (alert RidesWindowStateLost)
			p.m.lostHeld.Set(p.lostHeld.Add(-1))
		}
	}()
	for {
		key, data, err := p.readCommitted(ctx, pos, start)
		if err != nil {
			return err
		}
		var hold error
		if data != nil {
			stamp, _, err := engine.LocalStateInfo(data)
			switch {
			case err != nil:
				hold = fmt.Errorf("state.cache %q key %q: %w: %w", p.conf.cache, key, errLocalUnreadable, err)
			case start > stamp.Commit:
				hold = fmt.Errorf("state.cache %q key %q covers the commits of %s up to offset %d, but the group committed up to %d: the records between would be lost", p.conf.cache, key, pos.Key(), stamp.Commit, start)
			default:
				hold = p.eng.LoadPartition(pos.Topic, pos.Partition, data, now)
			}
		} else {
			if start >= 0 {
				hold = fmt.Errorf("state.cache %q has no state %q but the group committed %s up to offset %d: its open windows are lost", p.conf.cache, key, pos.Key(), start)
			} else {
				hold = p.eng.LoadPartition(pos.Topic, pos.Partition, nil, now)
			}
		}
		if hold != nil && p.conf.onLost == onLostResume && !errors.Is(hold, errLocalUnreadable) {
			p.log.Warnf("tumbling_window: %s: %v; going on from the committed offset (state.on_lost: resume)", pos.Key(), hold)
			hold = p.eng.LoadPartition(pos.Topic, pos.Partition, data, now)
		}
		if hold == nil {
			p.log.Debugf("tumbling_window: stage local loaded %s (generation %d, committed offset %d, %d bytes)", pos.Key(), gen, start, len(data))
			return nil
		}
		if !held {
			held = true
			p.m.lostHeld.Set(p.lostHeld.Add(1))
			p.m.lostHeldBatches.Incr(1)
		}
		if ok, n := p.holdLogs.Note(time.Now(), 30*time.Second); ok {
			p.log.Errorf("tumbling_window: holding %s: %v; reading it again (%d holds since the last such line)", pos.Key(), hold, n)
		}
		if err := p.holdPause(ctx); err != nil {
			return err
		}
	}
}

// readCommitted reads the state that covers the group's commit at offset
// start (-1: none): the key named after it, else the legacy key.
func (p *localProcessor) readCommitted(ctx context.Context, pos engine.Position, start int64) (key string, data []byte, err error) {
	read := readSerial(&p.readMu, p.readState)
	if start >= 0 {
		key = p.localKey(pos, start)
		if data, _, err = readStateRetrying(ctx, p.log, "local", read, p.holdPause, key); err != nil || data != nil {
			return key, data, err
		}
	}
	legacy := p.legacyKey(pos)
	if data, _, err = readStateRetrying(ctx, p.log, "local", read, p.holdPause, legacy); data != nil || start < 0 {
		key = legacy
	}
	return key, data, err
}

// flushLocal is the commit barrier's flush: the state of every partition
// this process owns that changed is written before the input commits, and
// the states below a commit the broker accepted are deleted. A process
// found no longer a member writes nothing (its offsets are not committed
// either).
func (p *localProcessor) flushLocal(ctx context.Context) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if errors.Is(commitbarrier.Process.ConfirmFor(ctx, p.readTopics()), commitbarrier.ErrFenced) {
		p.m.staleFences.Incr(1)
		return errStale
	}
	if err := p.carryUnloaded(ctx); err != nil {
		return err
	}
	type write struct {
		pos    engine.Position
		commit int64
		data   []byte
	}
	var writes []write
	p.mu.Lock()
	if acked, ok := p.acked.take(); ok {
		p.eng.ForgetDelivered(acked)
		for k := range acked {
			if pos, ok := p.positionOf(k); ok {
				p.dirty[k] = pos
			}
		}
	}
	for k, pos := range p.dirty {
		if owned, known := p.owners.Owns(pos.Topic, pos.Partition); known && !owned {
			p.forget(k)
			continue
		}
		p.eng.Ensure(pos.Topic, pos.Partition) // its records may all have been dead letters
		stamp := engine.LocalStamp{Fence: p.fences[k], Commit: p.committing[k].Offset}
		data, ok, err := p.eng.SnapshotPartition(pos.Topic, pos.Partition, stamp)
		if err != nil {
			p.mu.Unlock()
			return err
		}
		if ok {
			writes = append(writes, write{pos, stamp.Commit, data})
		}
	}
	clear(p.dirty)
	p.mu.Unlock()
	var errs []error
	for _, w := range writes {
		p.mu.Lock()
		p.stateSizes[w.pos.Key()] = len(w.data)
		p.m.stateBytes.Set(int64(sum(p.stateSizes)))
		p.mu.Unlock()
		if err := p.writeState(ctx, w.pos, w.commit, w.data); err != nil {
			errs = append(errs, err)
			p.mu.Lock()
			if _, ok := p.dirty[w.pos.Key()]; !ok {
				p.dirty[w.pos.Key()] = w.pos
			}
			p.mu.Unlock()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.deleteAccepted(ctx)
	return nil
}

// writeState writes one partition's state under the key of the commit it
// covers.
func (p *localProcessor) writeState(ctx context.Context, pos engine.Position, commit int64, data []byte) error {
	key := p.localKey(pos, commit)
	if err := p.persist(ctx, key, data, func(ctx context.Context, b []byte) error { return p.setKey(ctx, key, b) }); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := pos.Key()
	if _, mine := p.epochs[k]; !mine {
		return nil // forgotten meanwhile
	}
	t := p.written[k]
	if t == nil {
		t = &stateTrail{pos: pos}
		p.written[k] = t
	}
	t.add(commit)
	return nil
}

// forget (mu held) drops a partition this process no longer owns; if it
// comes back it is loaded again at its new epoch.
func (p *localProcessor) forget(k string) {
	p.eng.Forget(func(topic string, partition int32) bool {
		return engine.Position{Topic: topic, Partition: partition}.Key() != k
	})
	delete(p.epochs, k)
	delete(p.fences, k)
	delete(p.dirty, k)
	delete(p.committing, k)
	delete(p.written, k)
	delete(p.accepted, k)
	delete(p.stateSizes, k)
	p.m.stateBytes.Set(int64(sum(p.stateSizes)))
	if p.sender != nil {
		p.sender.forget(k)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// positionOf (mu held) finds the partition of key k among those the engine
// holds.
func (p *localProcessor) positionOf(k string) (engine.Position, bool) {
	for _, pos := range p.eng.Partitions() {
		if pos.Key() == k {
			pos.Offset = 0
			return pos, true
		}
	}
	return engine.Position{}, false
}

// deliveredBundles is the sender's report: bs were written.
func (p *localProcessor) deliveredBundles(bs []engine.Bundle) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pos := range p.eng.Delivered(bs) {
		if _, mine := p.epochs[pos.Key()]; mine {
			p.dirty[pos.Key()] = pos
		}
	}
}

// outputWriter writes a batch to the output resource label.
func outputWriter(res *service.Resources, label string) func(context.Context, service.MessageBatch) error {
	return func(ctx context.Context, b service.MessageBatch) error {
		var werr error
		if err := res.AccessOutput(ctx, label, func(o *service.ResourceOutput) { werr = o.WriteBatch(ctx, b) }); err != nil {
			return err
		}
		return werr
	}
}

// Close is idempotent: it writes what changed since the last flush.
// Bundles not yet written stay in that state.
func (p *localProcessor) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	if p.sender != nil {
		p.sender.Close(ctx)
	}
	if p.unregisterAcked != nil {
		p.unregisterAcked()
	}
	if p.unregister == nil {
		return nil
	}
	// Still listening: a consumer's last commit may come after this.
	if err := p.flushLocal(ctx); err != nil {
		return err
	}
	p.unregister()
	p.unregisterCommits()
	p.unregisterDone()
	return nil
}
