package deltalake

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/batchcheck"
	"github.com/miaradia/rides-connect/internal/health"
	"github.com/miaradia/rides-connect/internal/health/healthsvc"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/s3conf"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

func init() {
	err := service.RegisterBatchOutput("delta_lake", outputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			c, err := outputConfigFromParsed(conf)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			c.Store.S3.Logger = s3conf.SDKLogger(mgr.Logger())
			pol, inFlight, err := batchcheck.Output(conf, fieldBatching)
			if err != nil {
				return nil, pol, 0, err
			}
			o := newOutput(c, inFlight, mgr.Logger(), mgr.Metrics())
			if l := mgr.Label(); l != "" {
				o.health = healthsvc.New(health.Config{NotReadyAfter: c.NotReadyAfter}, mgr.Logger(), mgr.Metrics(), "delta_lake output "+l)
			}
			return o, pol, inFlight, nil
		})
	if err != nil {
		panic(err)
	}
}

// output is the delta_lake BatchOutput.
type output struct {
	conf     outputConfig
	inFlight int
	log      *service.Logger
	m        *outputMetrics
	now      func() time.Time
	after    func(time.Duration) <-chan time.Time // injectable for gap timeouts
	hooks    delta.Hooks                          // fault injection in tests
	health   *healthsvc.Output                    // failing commits -> not ready

	mu       sync.Mutex
	w        *delta.Writer
	trackers map[string]*delta.Tracker
	// startSeqs is each appId's sequence in the table when its tracker was
	// made, before this process committed any (checkNewState).
	startSeqs map[string]int64
	// seen is when this output last learnt each appId's progress (its own
	// commit, or a refresh of the table): waitTurn refreshes a view older
	// than viewFreshFor before it waits for a gap.
	seen    map[string]time.Time
	closed  bool
	commits int                // by this output, for auto_compact_every
	stop    context.CancelFunc // ends batches waiting for their turn on Close
	stopped context.Context
}

func newOutput(c outputConfig, inFlight int, log *service.Logger, m *service.Metrics) *output {
	stopped, stop := context.WithCancel(context.Background())
	return &output{
		conf: c, inFlight: inFlight, log: log, m: newOutputMetrics(m),
		now: time.Now, after: time.After, trackers: map[string]*delta.Tracker{},
		stopped: stopped, stop: stop,
		health: healthsvc.New(health.Config{NotReadyAfter: c.NotReadyAfter}, log, m, "delta_lake output "+c.Path),
	}
}

func (o *output) Connect(ctx context.Context) error {
	o.mu.Lock()
	if w := o.w; w != nil {
		o.mu.Unlock()
		// Called again after commits kept failing (healthsvc): write the
		// batch again only once the store answers a listing of the log.
		return o.health.Reconnect(ctx, func(ctx context.Context) error {
			_, err := w.Table().Store().List(ctx, "_delta_log/", fmt.Sprintf("_delta_log/%020d", w.Version()))
			return err
		})
	}
	defer o.mu.Unlock()
	st, err := objstore.Open(ctx, o.conf.Path, o.conf.Store)
	if err != nil {
		return err
	}
	tbl, err := delta.CreateOrOpen(ctx, st, o.conf.Table, o.now)
	if err != nil {
		return err
	}
	codec, infix, err := delta.Codec(o.conf.Compression)
	if err != nil {
		return err
	}
	o.w = delta.NewWriter(tbl, delta.WriterOptions{
		Codec: codec, CodecName: infix, TargetFileSize: o.conf.TargetFileSize, Now: o.now,
		Policy: delta.CommitPolicy{MaxAttempts: o.conf.CommitAttempts},
		Events: delta.CommitEvents{
			Retry: func(string) { o.m.commitRetries.Incr(1) },
			Conflict: func(ce *delta.ConflictError) {
				o.m.commitConflicts.Incr(1)
				o.log.Warnf("delta_lake %s: %v", o.conf.Path, ce)
			},
		},
		Hooks:    o.hooks,
		Fencing:  o.conf.Mode == "sequence", // txn versions are token<<32 | seq
		WriterID: o.conf.WriterID,
		OnCheckpointError: func(err error) {
			o.log.Errorf("delta_lake %s: checkpoint failed (commits continue): %v", o.conf.Path, err)
		},
	})
	o.m.tableVersion.Set(o.w.Version())
	o.log.Infof("delta_lake: table %s at version %d", st.URL(), o.w.Version())
	return nil
}

func (o *output) writer() (*delta.Writer, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, service.ErrEndOfInput
	}
	if o.w == nil {
		return nil, service.ErrNotConnected
	}
	return o.w, nil
}

// appID is the message's txn appId (prefix in kafka mode): app_id, or its
// interpolation for this message; "" if that fails (txnKey refuses it).
// The static case costs nothing per message.
func (o *output) appID(msg *service.Message) string {
	if o.conf.AppIDPerMessage == nil {
		return o.conf.AppID
	}
	s, err := o.conf.AppIDPerMessage.TryString(msg)
	if err != nil {
		return ""
	}
	return s
}

// tracker returns the per-appId tracker, seeded from the table.
func (o *output) tracker(w *delta.Writer, appID string) *delta.Tracker {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.trackers[appID]
	if !ok {
		first := int64(0) // Kafka offsets
		if o.conf.Mode == "sequence" {
			first = 1 // window_emit_seq starts at 1
		}
		t = delta.NewTracker(w.TxnView(appID), first)
		o.trackers[appID] = t
		if o.startSeqs == nil {
			o.startSeqs = map[string]int64{}
		}
		o.startSeqs[appID] = w.TxnSeq(appID)
	}
	return t
}

func (o *output) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	w, err := o.writer()
	if err != nil {
		return err
	}
	start := time.Now()
	var batchErr *service.BatchError
	recs := make([]delta.Record, 0, len(batch))
	emitted := make([]int64, 0, len(batch)) // window_emitted_unix_ms per record, 0 = none
	var fences map[string]int64             // appId -> token to raise it to
	for i, msg := range batch {
		if isFence(msg) {
			app, tok, bad := o.fence(msg)
			if bad == nil && tok > 0 {
				if fences == nil {
					fences = map[string]int64{}
				}
				fences[app] = max(fences[app], tok)
			}
			if bad == nil {
				continue
			}
			o.m.rowsInvalid.Incr(1, bad.reason)
			o.log.Errorf("delta_lake: dropping fence message (%s): %v", bad.reason, bad.err)
			continue
		}
		row, bad := decodeRow(w.Schema(), msg, o.conf.IgnoreUnknown)
		var app string
		var ver, tok int64
		if bad == nil {
			app, ver, bad = txnKey(o.conf.Mode, o.appID(msg), msg)
		}
		if bad == nil {
			tok, bad = fenceToken(o.conf.FenceToken, msg)
		}
		if bad == nil && disableTxn {
			app, ver, tok = "", 0, 0
		}
		if bad != nil {
			o.m.rowsInvalid.Incr(1, bad.reason)
			if o.conf.OnInvalidRow == "fail" {
				if batchErr == nil {
					batchErr = service.NewBatchError(batch, errors.New("delta_lake: some messages do not fit the table"))
				}
				batchErr.Failed(i, bad)
			} else {
				o.log.Errorf("delta_lake: dropping message (%s): %v", bad.reason, bad.err)
			}
			continue
		}
		if err := o.checkNewState(w, msg, app, ver, tok); err != nil {
			return err
		}
		recs = append(recs, delta.Record{Row: row, AppID: app, Version: ver, Token: tok})
		emitted = append(emitted, emittedAt(msg))
	}
	err = o.raiseFences(ctx, w, fences)
	if err == nil {
		err = o.write(ctx, w, recs, emitted)
	}
	if err != nil {
		if errors.Is(err, service.ErrNotConnected) {
			return err
		}
		if delta.IsFenced(err) {
			// Not a store failure: this process lost the appId (its Kafka
			// transaction aborts on the nack too). It does not count
			// towards not_ready_after.
			o.m.fenced.Incr(1)
			o.log.Errorf("delta_lake %s: batch refused, this writer is fenced (a newer owner of the partition committed with a higher token; normal right after this replica was paused past its session timeout, the batch is nacked and its partition re-read by its owner): %v", o.conf.Path, err)
			return err
		}
		o.m.commitFailures.Incr(1)
		// After not_ready_after of failures this is ErrNotConnected: /ready
		// turns 503 and Benthos retries this batch after Connect's probe.
		return o.health.Failed(err)
	}
	o.health.Delivered()
	o.m.commitLatency.Timing(time.Since(start).Nanoseconds())
	if batchErr != nil {
		return batchErr
	}
	return nil
}

// write filters already-committed rows per appId, waits for its turn in
// sequence mode, appends, and records what it committed. emitted[i] is the
// emission time (epoch ms, 0 = unknown) of recs[i], for delta_emit_to_commit.
func (o *output) write(ctx context.Context, w *delta.Writer, recs []delta.Record, emitted []int64) error {
	if len(recs) == 0 {
		return nil
	}
	// Per appId: its tracker, the lowest version to write and the exact
	// versions (a batch may skip a sequence or offset still on its way),
	// each run of equal ones once.
	type appRows struct {
		t  *delta.Tracker
		lo int64
		vs []int64
	}
	apps := map[string]*appRows{}
	keep := recs[:0]
	keptEmitted := emitted[:0]
	skipped := 0
	var lastApp string
	lastTok := int64(-1)
	for _, r := range recs {
		// Refused early on the cached table: the tracker below would take a
		// fenced writer's rows at or below the new owner's sequence as
		// written and ack them. Append checks again on the log's tail.
		if r.AppID != "" && (r.AppID != lastApp || r.Token != lastTok) {
			if err := w.CheckFence(r.AppID, r.Token); err != nil {
				return err
			}
			lastApp, lastTok = r.AppID, r.Token
		}
	}
	for i, r := range recs {
		if r.AppID != "" {
			a, ok := apps[r.AppID]
			if !ok {
				a = &appRows{t: o.tracker(w, r.AppID)}
				a.t.Observe(w.TxnView(r.AppID))
				apps[r.AppID] = a
			}
			if a.t.Committed(r.Version) {
				skipped++
				continue
			}
			if len(a.vs) == 0 || r.Version < a.lo {
				a.lo = r.Version
			}
			if n := len(a.vs); n == 0 || a.vs[n-1] != r.Version {
				a.vs = append(a.vs, r.Version)
			}
		}
		keep = append(keep, r)
		keptEmitted = append(keptEmitted, emitted[i])
	}
	if skipped > 0 {
		o.m.rowsSkipped.Incr(int64(skipped))
	}
	if len(keep) == 0 {
		return nil
	}
	if o.conf.Mode == "sequence" {
		for app, a := range apps {
			if len(a.vs) > 0 {
				if err := o.waitTurn(ctx, w, app, a.t, a.lo); err != nil {
					return err
				}
			}
		}
	}
	res, err := w.Append(ctx, keep)
	var ce *delta.ConflictError
	if errors.As(err, &ce) && ce.TableChanged {
		return o.reopen(w, ce)
	}
	if err != nil {
		return err
	}
	for app, a := range apps {
		a.t.MarkDoneVersions(a.vs)
		o.noteSeen(app)
	}
	if res.RowsSkipped > 0 {
		o.m.rowsSkipped.Incr(int64(res.RowsSkipped))
	}
	o.holesDropped(res.HolesDropped)
	if res.Version >= 0 {
		o.observeEmitToCommit(keptEmitted, time.Now())
		o.m.commits.Incr(1)
		o.m.tableVersion.Set(res.Version)
		o.m.filesWritten.Incr(int64(res.Files))
		o.m.bytesWritten.Incr(res.Bytes)
		o.m.rowsWritten.Incr(int64(res.RowsWritten))
		o.maybeCompact(ctx, w)
	}
	return nil
}

// fence reads a fence message: its appId and the token to raise it to (0:
// nothing to do, no fence_token configured or not sequence mode).
func (o *output) fence(msg *service.Message) (string, int64, *invalidRow) {
	if o.conf.Mode != "sequence" || o.conf.FenceToken == nil || disableTxn {
		return "", 0, nil
	}
	app := o.appID(msg)
	if app == "" {
		return "", 0, &invalidRow{"missing_app_id", fmt.Errorf("delta_lake: idempotency.app_id gives an empty txn appId for a fence message")}
	}
	tok, bad := fenceToken(o.conf.FenceToken, msg)
	return app, tok, bad
}

// raiseFences commits the batch's fence messages (one txn-only commit for
// all of them) before its rows.
func (o *output) raiseFences(ctx context.Context, w *delta.Writer, fences map[string]int64) error {
	if len(fences) == 0 {
		return nil
	}
	res, err := w.Fence(ctx, fences)
	var ce *delta.ConflictError
	if errors.As(err, &ce) && ce.TableChanged {
		return o.reopen(w, ce)
	}
	if err != nil {
		return err
	}
	if res.Version >= 0 {
		o.m.commits.Incr(1)
		o.m.tableVersion.Set(res.Version)
		o.log.Infof("delta_lake %s: fencing tokens raised at version %d: %v (older owners of these appIds can no longer commit)", o.conf.Path, res.Version, fenceList(res.Raised, fences))
	}
	return nil
}

func fenceList(apps []string, tokens map[string]int64) string {
	s := ""
	for i, a := range apps {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s=%d", a, tokens[a])
	}
	return s
}

// reopen drops the writer after another writer changed the schema or
// protocol: Connect re-validates the table against the config (and refuses
// it if it no longer fits) instead of failing every batch.
func (o *output) reopen(w *delta.Writer, ce *delta.ConflictError) error {
	o.log.Warnf("delta_lake %s: %v; reopening the table", o.conf.Path, ce)
	o.mu.Lock()
	if o.w == w {
		o.w = nil
	}
	o.mu.Unlock()
	return service.ErrNotConnected
}

// maybeCompact runs OPTIMIZE every auto_compact_every commits; the batch is
// already committed, so a failure is only logged.
func (o *output) maybeCompact(ctx context.Context, w *delta.Writer) {
	if o.conf.AutoCompact <= 0 {
		return
	}
	o.mu.Lock()
	o.commits++
	due := o.commits%o.conf.AutoCompact == 0
	o.mu.Unlock()
	if !due {
		return
	}
	codec, infix, _ := delta.Codec(o.conf.Compression)
	res, err := delta.Optimize(ctx, w.Table().Store(), delta.OptimizeOptions{
		TargetSize: o.conf.TargetFileSize, Codec: codec, CodecName: infix, Now: o.now,
		Policy: delta.CommitPolicy{MaxAttempts: o.conf.CommitAttempts},
	})
	if err != nil {
		o.log.Warnf("delta_lake %s: auto compaction failed (data is safe, will retry later): %v", o.conf.Path, err)
		return
	}
	if res.Version >= 0 {
		o.m.tableVersion.Set(res.Version)
		o.log.Infof("delta_lake %s: compacted %d files into %d at version %d", o.conf.Path, res.FilesRemoved, res.FilesAdded, res.Version)
	}
}

// waitTurn holds a batch whose first sequence is past the next expected
// one; with max_in_flight 1 nothing else can arrive, so it does not wait.
func (o *output) waitTurn(ctx context.Context, w *delta.Writer, app string, t *delta.Tracker, first int64) error {
	next := t.NextExpected()
	if first <= next {
		return nil
	}
	if o.viewStale(app) {
		// A process that takes an appId over (a hot standby, a replica
		// given a partition) knows the table as of its start: the
		// sequences in between are most likely the previous owner's, in
		// the table already. Look before waiting sequence_gap_timeout for
		// them (red team rt20a: every takeover waited 10 s, unreported).
		if err := w.Refresh(ctx); err == nil {
			t.Observe(w.TxnView(app))
			o.noteSeen(app)
			if next = t.NextExpected(); first <= next {
				return nil
			}
		}
	}
	if o.inFlight > 1 {
		// Close must not wait for the gap timeout: it cancels the wait and
		// the batch is nacked (redelivered after restart).
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-o.stopped.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
		ok, err := t.WaitTurn(ctx, first, o.after(o.conf.GapTimeout))
		if err != nil || ok {
			return err
		}
		next = t.NextExpected()
	}
	if first > next {
		// Another writer may have committed them: the owner this process
		// took the partition over from (red team rt19a: a warning of
		// missing sequences the table had). Look before calling them missing.
		if err := w.Refresh(ctx); err == nil {
			t.Observe(w.TxnView(app))
			o.noteSeen(app)
			next = t.NextExpected()
		}
	}
	if first > next {
		o.m.sequenceGaps.Incr(1)
		o.log.Warnf("delta_lake: committing window_emit_seq %d before %d..%d arrived; the table records them as missing, so they are still written when they come, also after a restart", first, next, first-1)
		t.GiveUp(first - 1)
	}
	return nil
}

// viewFreshFor is how long this output's own commits and refreshes keep
// its view of an appId fresh enough to wait for a gap without looking at
// the table first: a process that is writing an appId commits it far more
// often, so only a view from before a takeover (or a quiet spell) is
// refreshed.
const viewFreshFor = time.Second

func (o *output) noteSeen(app string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[string]time.Time{}
	}
	o.seen[app] = o.now()
}

func (o *output) viewStale(app string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.now().Sub(o.seen[app]) > viewFreshFor
}

// holesDropped reports sequences the table stopped recording as missing:
// committed past more than delta.HoleHorizon sequences ago, or beyond
// delta.MaxHoles gaps. If one still comes it is skipped as written.
func (o *output) holesDropped(dropped map[string][][2]int64) {
	for app, ivs := range dropped {
		for _, iv := range ivs {
			o.m.holesDropped.Incr(iv[1] - iv[0] + 1)
			o.log.Errorf("delta_lake %s: window_emit_seq %d..%d of %q never arrived and are no longer recorded as missing (more than %d later sequences, or more than %d gaps, were committed); their rows are not in the table", o.conf.Path, iv[0], iv[1], app, delta.HoleHorizon, delta.MaxHoles)
		}
	}
}

// Close is idempotent; batches waiting for an earlier sequence give up.
func (o *output) Close(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.stop()
	return nil
}

// emittedAt is a message's window_emitted_unix_ms (set by tumbling_window when
// it emits), 0 when absent or not a number.
func emittedAt(msg *service.Message) int64 {
	v, ok := msg.MetaGetMut(metaEmittedAt)
	if !ok {
		return 0
	}
	switch n := v.(type) {
	case int64:
		return n
	case string:
		ms, _ := strconv.ParseInt(n, 10, 64)
		return ms
	}
	return 0
}

// observeEmitToCommit records, for each committed row that carries an
// emission time, how long it took from the window's emission to this commit.
func (o *output) observeEmitToCommit(emitted []int64, committed time.Time) {
	now := committed.UnixMilli()
	for _, ms := range emitted {
		if ms > 0 {
			o.m.emitToCommit.Timing(max(now-ms, 0) * int64(time.Millisecond))
		}
	}
}
