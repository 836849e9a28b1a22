package window

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
	"github.com/miaradia/rides-connect/internal/ownership"
	"github.com/miaradia/rides-connect/internal/ratelog"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

func init() {
	service.MustRegisterBatchProcessor("tumbling_window", spec(),
		func(conf *service.ParsedConfig, res *service.Resources) (service.BatchProcessor, error) {
			c, err := fromParsed(conf, res)
			if err != nil {
				return nil, err
			}
			switch c.engine.Stage {
			case engine.StagePartial:
				return newPartialProcessor(c, res, time.Now)
			case engine.StageMerge:
				return newMergeProcessor(c, res, time.Now)
			case engine.StageLocal:
				return newLocalProcessor(c, res, time.Now)
			}
			return newProcessor(c, res, time.Now)
		})
}

// processor is the Benthos adapter around one engine. One instance serves all
// pipeline threads: extraction runs concurrently, the engine step runs under
// mu, one batch at a time, and the checkpoint is a group commit shared by the
// batches waiting for it (durable.go).
type processor struct {
	conf *procConfig
	res  *service.Resources
	log  *service.Logger
	m    *metrics
	now  func() time.Time

	// store writes a checkpoint; tests replace it to inject failures.
	store func(ctx context.Context, data []byte) error
	// guard holds batches of stage full while this process shares their
	// topic's partitions with other processes (split_guard.go).
	guard *splitGuard
	// cfgHold rate-limits the log of batches held for an inconsistent
	// config (config_hold.go).
	cfgHold ratelog.Limiter
	// earlyLog rate-limits the warning for rows dropped as closed early;
	// earlyRows counts those rows since its last line.
	earlyLog  ratelog.Limiter
	earlyRows atomic.Int64
	// missingLogs rate-limit the logs of missing Kafka metadata keys
	// (kafka_meta.go): kafka_topic_partitions, kafka_prev_offset.
	missingLogs [2]ratelog.Limiter
	// holdPause is the wait between reads of a state that does not
	// restore (pauseChangelog; tests replace it).
	holdPause func(context.Context) error
	gains     uint64 // ownership gains when the state was loaded (reloadIfTakenOver)

	mu     sync.Mutex
	eng    *engine.Engine
	ver    uint64 // of the in-memory state: +1 per engine step
	closed bool
	// dmu guards the group commit (durable.go); persisted and lastWrite
	// belong to the one writer.
	dmu       sync.Mutex
	durable   uint64        // the newest version known durable
	writing   bool          // a waiter is writing the state
	wrote     chan struct{} // closed and replaced after each write attempt
	lost      []lostRange
	persisted []byte    // the state as last written (or loaded)
	lastWrite time.Time // of the state; used only by unsafe test builds
	// through is the highest offset per partition that has been through the
	// window; advanced is closed and replaced when it moves (see order.go).
	through  map[string]passedUpTo
	advanced chan struct{}
	// unregister removes flush from the process's commit barrier
	// (state.sync: commit); nil otherwise.
	unregister func()
	// acked is what the consumers acknowledged (state.sync: commit), to
	// forget delivered emissions; unregisterAcked stops its reports.
	acked           ackedOffsets
	unregisterAcked func()
	// unregisterCovers stops coverCommitting's reports (state.sync: commit).
	unregisterCovers func()
	// stale: a consumer of the process left its group; the state may be
	// older than the checkpoint, and is not written until reloaded
	// (stale_state.go). unregisterFenced stops the barrier's reports.
	stale            atomic.Bool
	unregisterFenced func()
	// fresh: state.cache held no state at start and none was reloaded
	// since; emitted rows then carry window_state_new, so that delta_lake
	// refuses them if the table holds sequences from a state now lost.
	fresh atomic.Bool
	// lostGuard holds a fresh state's batches when the group had committed
	// progress it never saw (lost_state.go).
	lostGuard lostStateGuard
	// keptTopics, when set (stage local), lists the topics whose records
	// this processor keeps state for: its commit barrier flush and
	// membership checks concern only their consumers.
	keptTopics func() []string
}

// newBase is the adapter without an engine: config, queries, order,
// metrics. Each stage adds its engine.
func newBase(c *procConfig, res *service.Resources, now func() time.Time) *processor {
	return &processor{conf: c, res: res, log: res.Logger(), m: newMetrics(res.Metrics()), now: now,
		through: map[string]passedUpTo{}, advanced: make(chan struct{}), wrote: make(chan struct{}), holdPause: pauseChangelog}
}

// newProcessor is stage full: the whole window in this process.
func newProcessor(c *procConfig, res *service.Resources, now func() time.Time) (*processor, error) {
	p := newBase(c, res, now)
	eng, err := engine.New(c.engine)
	if err != nil {
		return nil, err
	}
	p.eng = eng
	p.store = p.setInCache
	p.guard = &splitGuard{owners: ownership.Process}
	p.gains = ownership.Process.Gains() // before load: a gain after it may mean a newer checkpoint
	if err := p.load(); err != nil {
		return nil, err
	}
	if c.syncOnCommit {
		p.unregister = commitbarrier.Process.Register(p.flush)
		p.unregisterAcked = commitbarrier.Process.OnAcked(p.acked.record)
		p.unregisterFenced = commitbarrier.Process.OnFenced(p.fenced)
		p.unregisterCovers = commitbarrier.Process.OnCommitting(p.coverCommitting)
	}
	return p, nil
}

// load restores the checkpointed state, if any. A state written for another
// window shape is refused: mixing it would produce wrong results.
func (p *processor) load() error {
	if p.conf.cache == "" {
		p.log.Warn("tumbling_window: state.cache is empty, window state is not checkpointed and is lost on restart")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var data []byte
	var getErr error
	if err := p.res.AccessCache(ctx, p.conf.cache, func(c service.Cache) { data, getErr = c.Get(ctx, p.conf.key) }); err != nil {
		return fmt.Errorf("state.cache %q: %w", p.conf.cache, err)
	}
	if errors.Is(getErr, service.ErrKeyNotFound) {
		p.fresh.Store(true)
		return nil
	}
	if getErr != nil {
		return fmt.Errorf("state.cache %q: reading key %q: %w", p.conf.cache, p.conf.key, getErr)
	}
	if err := p.eng.Restore(data); err != nil {
		return fmt.Errorf("state.key %q in cache %q: %w", p.conf.key, p.conf.cache, err)
	}
	p.persisted = data
	wm, _ := p.eng.Watermark()
	p.log.Infof("tumbling_window: restored state %q (%d bytes): %d open windows, watermark %d ms, last emission %d",
		p.conf.key, len(data), p.eng.OpenGroups(), wm, p.eng.Seq())
	if p.conf.onLost == onLostResume {
		p.log.Warnf("tumbling_window: state.on_lost is resume although state %q was restored: set it back to hold, or a state lost later goes on silently with wrong windows", p.conf.key)
	}
	return nil
}

func (p *processor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	batch, err := p.awaitWhole(ctx, batch)
	if err != nil || len(batch) == 0 {
		return nil, err
	}
	if err := p.reloadIfTakenOver(ctx); err != nil {
		return nil, err
	}
	if p.idleStandby(batch) {
		return nil, nil
	}
	if err := p.awaitStateNotLost(ctx, batch); err != nil {
		return nil, err
	}
	bufs := getRowBufs()
	defer bufs.release()
	out, rows, idx, ls := p.extractInto(batch, bufs)

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("tumbling_window: processor is closed")
	}
	if err := p.awaitTurn(ctx, ls); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	now := p.now()
	p.watchKafka(rows, ls, now)
	res := p.eng.Process(rows, now)
	applied, late, replayed, early := p.tally(batch, out, idx, res.Status, res.LateWindowEndUs)
	p.ver++
	v := p.ver
	p.passed(ls)
	p.cover(ls)
	p.observe(applied, late, replayed, early, now)
	p.mu.Unlock()
	batches := passedOn(out)
	if p.writeBeforeRelease(rows, len(res.Emissions)) {
		if err := p.makeDurable(ctx, v); err != nil {
			if dropStale(ctx, err) {
				p.m.staleDropped.Incr(1)
				return nil, nil
			}
			return nil, err
		}
	} else if len(batches) > 0 && p.fencedNow(ctx) {
		p.m.staleDropped.Incr(1)
		return nil, nil
	}
	for i, em := range res.Emissions {
		b, err := p.emissionBatch(batch, em)
		if err != nil {
			return nil, err
		}
		if i == 0 { // with the dead letters; each emission stays one batch (one sequence)
			batches = joined(batches, b)
		} else {
			batches = append(batches, b)
		}
	}
	release(batch, out)
	return batches, nil
}

// release drops the content of the messages consumed here (none passed on):
// Benthos holds the input batch until its ack, which waits for this batch's
// dead letters and emissions to be written, and meanwhile each message keeps
// its parsed ride alive for the GC to trace.
func release(batch service.MessageBatch, out []*service.Message) {
	for i, m := range batch {
		if out[i] == nil {
			m.SetBytes(nil)
		}
	}
}

// extractBatch turns a batch into engine rows (outside the state lock).
// out holds, by position, the messages passed on errored; idx is the
// message index of each row; ls each partition's place in its offset order.
func (p *processor) extractBatch(batch service.MessageBatch) (out []*service.Message, rows []engine.Row, idx []int, ls chain) {
	return p.extractInto(batch, &rowBufs{})
}

// extractInto is extractBatch into buffers b (grown as needed); the results
// are b's slices, valid until b is released.
func (p *processor) extractInto(batch service.MessageBatch, b *rowBufs) (out []*service.Message, rows []engine.Row, idx []int, ls chain) {
	nv := len(p.conf.valueSlot)
	b.size(len(batch), nv)
	out, rows, idx, vbuf := b.out, b.rows, b.idx, b.vbuf // out: messages passed on errored, by position
	q := p.bind(batch)
	vals := make([]any, len(p.conf.slots))
	for i, msg := range batch {
		if msg.GetError() != nil {
			if row, ok := noticeRow(msg); ok {
				// A parser before the window fails a notice (it has no
				// body): it is still a notice, and no dead letter.
				msg.SetError(nil)
				rows, idx = append(rows, row), append(idx, i)
				continue
			}
			out[i] = msg // already failed upstream: untouched
			ls.noteMessage(msg)
			continue
		}
		if isHeartbeat(msg) && !isKafkaRecord(msg) {
			rows, idx = append(rows, engine.Row{Heartbeat: true}), append(idx, i)
			continue
		}
		row, rerr := p.extract(batch, q, i, vals, vbuf[i*nv:(i+1)*nv:(i+1)*nv])
		if rerr != nil {
			// A notice has no body: looked for only among failed rows, so
			// a ride pays nothing for it.
			if row, ok := noticeRow(msg); ok {
				rows, idx = append(rows, row), append(idx, i)
				continue
			}
			out[i] = p.reject(msg, rerr.reason, rerr)
			ls.noteMessage(msg)
			continue
		}
		if row.HasPos {
			ls.note(msg, row.Pos)
		}
		rows, idx = append(rows, row), append(idx, i)
	}
	return out, rows, idx, ls
}

// tally counts the rows' statuses and, with late_rows: error, passes late
// rows on errored.
func (p *processor) tally(batch service.MessageBatch, out []*service.Message, idx []int, status []engine.Status, lateEnd map[int]int64) (applied, late, replayed, early int) {
	for j, st := range status {
		switch st {
		case engine.Applied:
			applied++
		case engine.Replayed:
			replayed++
		case engine.Late, engine.ClosedEarly:
			late++
			if st == engine.ClosedEarly {
				early++
			}
			if p.conf.lateError {
				i := idx[j]
				out[i] = p.reject(batch[i], "late_row", fmt.Errorf(
					"tumbling_window: late row: its window ending %s had closed (watermark passed it)",
					engine.FormatTime(lateEnd[j])))
			}
		}
	}
	return applied, late, replayed, early
}

// passedOn is the batch of messages passed on errored, if any.
func passedOn(out []*service.Message) []service.MessageBatch {
	var passed service.MessageBatch
	for _, m := range out {
		if m != nil {
			passed = append(passed, m)
		}
	}
	if len(passed) == 0 {
		return nil
	}
	return []service.MessageBatch{passed}
}

// joined appends b's messages to the one batch of batches (passedOn's), or
// makes it that batch. A processor that returns more than one batch makes
// Benthos' pipeline thread wait until the output acked all of them
// (pipeline/processor.go) before it takes the next input batch; one batch
// is handed on without waiting. The output (a switch) still routes each
// message on its own.
func joined(batches []service.MessageBatch, b service.MessageBatch) []service.MessageBatch {
	if len(batches) == 0 {
		return []service.MessageBatch{b}
	}
	batches[0] = append(batches[0], b...)
	return batches
}

// reject returns a copy of msg marked with err and dlq_reason, and counts it.
func (p *processor) reject(msg *service.Message, reason string, err error) *service.Message {
	m := msg.Copy()
	m.SetError(err)
	m.MetaSetMut("dlq_reason", reason)
	if reason != "late_row" {
		p.m.invalid.Incr(1, reason)
	}
	return m
}

// persist writes a state with put, retrying with back-off while the store
// fails, until ctx ends.
func (p *processor) persist(ctx context.Context, key string, data []byte, put func(context.Context, []byte) error) error {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := put(ctx, data)
		if err == nil {
			p.m.ckptLatency.Timing(time.Since(start).Nanoseconds())
			p.m.ckptWrites.Incr(1)
			return nil
		}
		p.log.Errorf("tumbling_window: checkpoint %q to cache %q failed (attempt %d), retrying: %v", key, p.conf.cache, attempt, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("tumbling_window: checkpoint not written: %w", ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (p *processor) setInCache(ctx context.Context, data []byte) error {
	return p.setKey(ctx, p.conf.key, data)
}

func (p *processor) setKey(ctx context.Context, key string, data []byte) error {
	var setErr error
	if err := p.res.AccessCache(ctx, p.conf.cache, func(c service.Cache) { setErr = c.Set(ctx, key, data, nil) }); err != nil {
		return err
	}
	return setErr
}

// getKey reads a key of state.cache; nil, nil if it is not there.
func (p *processor) getKey(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	var getErr error
	if err := p.res.AccessCache(ctx, p.conf.cache, func(c service.Cache) { data, getErr = c.Get(ctx, key) }); err != nil {
		return nil, fmt.Errorf("state.cache %q: %w", p.conf.cache, err)
	}
	if errors.Is(getErr, service.ErrKeyNotFound) {
		return nil, nil
	}
	if getErr != nil {
		return nil, fmt.Errorf("state.cache %q: reading key %q: %w", p.conf.cache, key, getErr)
	}
	return data, nil
}

// rollback makes the in-memory state equal the durable one again.
func (p *processor) rollback(cause error) error {
	eng, err := engine.New(p.conf.engine)
	if err == nil && p.persisted != nil {
		err = eng.Restore(p.persisted)
	}
	if err != nil {
		return errors.Join(cause, fmt.Errorf("rolling back state: %w", err))
	}
	p.eng = eng
	return cause
}

func (p *processor) observe(applied, late, replayed, early int, now time.Time) {
	p.warnClosedEarly(early)
	p.m.input.Incr(int64(applied))
	p.m.late.Incr(int64(late))
	p.m.closedEarly.Incr(int64(early))
	p.m.replayed.Incr(int64(replayed))
	p.m.open.Set(int64(p.eng.OpenGroups()))
	p.m.idle.Set(int64(p.eng.IdlePartitions(now)))
	if wm, ok := p.eng.Watermark(); ok {
		p.m.watermark.Set(wm)
		p.m.lag.Set(int64(now.Sub(time.UnixMilli(wm)).Seconds()))
	}
	if mx, ok := p.eng.MaxEventMs(); ok {
		p.m.maxEvent.Set(mx)
	}
}

// warnClosedEarly logs, at most once a minute, that rows were dropped
// because their window had been emitted before their partition's own
// progress closed it: the partition was idle, had not delivered yet or is
// new to the topic. Unlike a late row this is not the data's doing but
// idle_timeout's, and the table lacks those rows.
func (p *processor) warnClosedEarly(n int) {
	if n == 0 {
		return
	}
	rows := p.earlyRows.Add(int64(n))
	if ok, batches := p.earlyLog.Note(time.Now(), time.Minute); ok {
		p.earlyRows.Add(-rows)
		p.log.Warnf("tumbling_window: %d rows dropped as closed early in %d batches since the last such line: their window was emitted while their partition was idle, had not delivered yet or was new to the topic (idle_timeout %v; window_late_rows_closed_early_total); set watermark.idle_timeout: 0s where an exact table matters more than liveness", rows, batches, p.conf.engine.IdleTimeout)
	}
}

// emissionBatch renders an emission as messages derived from the input batch
// (the BatchProcessor contract), with the input's metadata removed.
func (p *processor) emissionBatch(batch service.MessageBatch, em *engine.Emission) (service.MessageBatch, error) {
	// One stripped copy of the template, copied per row: stripping every
	// row's copy of the template's metadata cost more than the row itself.
	base := derived(template(batch), nil)
	rows := engine.NewRowJSON(p.conf.engine.GroupNames, p.conf.engine.Aggregates)
	out := make(service.MessageBatch, 0, len(em.Rows))
	for k := range em.Rows {
		r := &em.Rows[k]
		body, err := rows.Append(nil, r)
		if err != nil {
			return nil, err
		}
		m := base.Copy()
		m.SetBytes(body)
		m.MetaSetMut("window_start_ms", r.StartUs/1000)
		m.MetaSetMut("window_end_ms", r.EndUs/1000)
		m.MetaSetMut("window_id", r.WindowID())
		m.MetaSetMut("window_emit_seq", em.Seq)
		if p.fresh.Load() {
			m.MetaSetMut("window_state_new", true)
		}
		m.MetaSetMut("window_emitted_unix_ms", time.Now().UnixMilli()) // emission latency (docs/metrics.md)
		out = append(out, m)
	}
	p.m.emitted.Incr(int64(len(out)))
	return out, nil
}

// template is the message new messages of a batch derive from.
func template(batch service.MessageBatch) *service.Message {
	for _, m := range batch {
		if m.GetError() == nil {
			return m
		}
	}
	return batch[0]
}

// derived is a copy of tmpl with body and without error or metadata.
func derived(tmpl *service.Message, body []byte) *service.Message {
	m := tmpl.Copy()
	m.SetError(nil)
	var keys []string
	_ = m.MetaWalkMut(func(k string, _ any) error { keys = append(keys, k); return nil })
	for _, k := range keys {
		m.MetaDelete(k)
	}
	m.SetBytes(body)
	return m
}

// Close is idempotent. The state of every released batch is already durable.
func (p *processor) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	v := p.ver
	p.mu.Unlock()
	if p.unregisterAcked != nil {
		p.unregisterAcked()
	}
	if p.unregisterFenced != nil {
		p.unregisterFenced()
	}
	if p.unregister == nil {
		return nil
	}
	// state.sync: commit: the batches acked since the last write are in
	// no durable state yet; the last offset commit (on leaving the group)
	// may come after this Close.
	if err := p.makeDurable(ctx, v); err != nil {
		// Stay in the barrier: a consumer's last commit must not pass
		// what this state holds; its own flush retries the write.
		return err
	}
	p.unregister()
	p.unregisterCovers()
	return nil
}
