package delta

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go/compress"
)

// Record is a row plus, optionally, the idempotency key it belongs to.
type Record struct {
	Row     Row
	AppID   string // "" = not idempotent
	Version int64  // txn version this row belongs to (sequence or offset)
	// Force writes the row even if Version is at or below the committed
	// txn version (a sequence gap filled late, see Tracker), as long as that
	// txn version is one this process committed (see OwnTxns).
	Force bool
	// Token is the writer's fencing token for AppID (fence.go); 0 = none.
	// Only with WriterOptions.Fencing.
	Token int64
}

// OwnTxns remembers, per appId, the txn version this process committed
// last, so that Append tells its own commits from another writer's. Force
// may only fill a gap below a txn version we wrote: if another writer (a
// replica that took over the appId, or a paused one that woke up) moved it,
// rows at or below it are already in the table and are skipped. Share one
// among the writers of an output so it survives a reopen.
type OwnTxns struct {
	mu sync.Mutex
	v  map[string]int64
}

// foreign reports whether txn version v of appID was written by another
// writer (v < 0: no txn yet, nothing to tell).
func (o *OwnTxns) foreign(appID string, v int64) bool {
	if v < 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	ours, ok := o.v[appID]
	return !ok || ours != v
}

func (o *OwnTxns) set(appID string, v int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.v == nil {
		o.v = map[string]int64{}
	}
	o.v[appID] = v
}

// Hooks are fault-injection points for crash tests; a non-nil error aborts
// the append as a crash would at that point.
type Hooks struct {
	AfterUpload func() error // data files written, commit not attempted
	AfterCommit func() error // commit landed, caller not told yet
}

// WriterOptions configure appends.
type WriterOptions struct {
	Codec          compress.Codec
	CodecName      string // file-name infix: zstd, snappy or ""
	TargetFileSize int64  // bytes of encoded row data per file; 0 = 128 MiB
	Now            func() time.Time
	Policy         CommitPolicy
	Events         CommitEvents
	Hooks          Hooks
	// OnCheckpointError is told about a failed checkpoint (the commit stands).
	OnCheckpointError func(error)
	// Own is this process's txn versions; nil = the writer's own.
	Own *OwnTxns
	// Fencing makes every txn version token<<32 | seq (fence.go): records
	// carry their Token, and a writer whose token is below the table's is
	// refused with a FencedError. For window sequences only (Kafka offsets
	// may not fit 32 bits).
	Fencing bool
	// WriterID, if set, is written as commitInfo.writerId in every commit,
	// so the log tells which process made it.
	WriterID string
}

// Writer appends to one table; Append calls are serialised.
type Writer struct {
	mu     sync.Mutex
	t      *Table
	opts   WriterOptions
	schema Schema // table schema when opened; a later change is a conflict
	// schemaString and partitions as opened, to detect a change.
	schemaString string
	partitions   []string
}

// NewWriter wraps an open table.
func NewWriter(t *Table, opts WriterOptions) *Writer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TargetFileSize <= 0 {
		opts.TargetFileSize = 128 << 20
	}
	if opts.Own == nil {
		opts.Own = &OwnTxns{}
	}
	return &Writer{t: t, opts: opts, schema: t.snap.Schema,
		schemaString: t.snap.Metadata.SchemaString, partitions: t.snap.Metadata.PartitionColumns}
}

// Schema is the table schema rows must follow (safe to call concurrently).
func (w *Writer) Schema() Schema { return w.schema }

// Table returns the writer's table.
func (w *Writer) Table() *Table { return w.t }

// AppendResult reports what an Append did.
type AppendResult struct {
	Version      int64 // committed version, -1 if nothing was committed
	RowsWritten  int
	RowsSkipped  int // already committed under their txn
	Files        int
	Bytes        int64
	Checkpointed bool
}

// TxnVersion returns the committed version of appID in the cached snapshot.
func (w *Writer) TxnVersion(appID string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t.snap.TxnVersion(appID)
}

// Version returns the cached table version.
func (w *Writer) Version() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t.snap.Version
}

// Append writes recs as new files and commits them, with one txn per appId
// in the same commit. Rows already covered by a committed txn are skipped.
func (w *Writer) Append(ctx context.Context, recs []Record) (AppendResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	res := AppendResult{Version: -1}
	snap := w.t.snap
	if _, err := snap.Update(ctx, w.t.st); err != nil {
		return res, err
	}
	if err := w.checkMetadata(snap); err != nil {
		return res, err
	}
	keep, skipped, err := w.filterCommitted(snap, recs)
	if err != nil {
		return res, err
	}
	res.RowsSkipped = skipped
	if len(keep) == 0 {
		return res, nil
	}
	adds, err := w.writeFiles(ctx, snap, keep)
	if err != nil {
		return res, err
	}
	for _, a := range adds {
		res.Files++
		res.Bytes += a.Size
	}
	if h := w.opts.Hooks.AfterUpload; h != nil {
		if err := h(); err != nil {
			return res, err
		}
	}
	txnID := uuid.NewString()
	appIDs := txnAppIDs(keep)
	tokens := recordTokens(keep)
	var txns []*Txn // of the last attempt built
	build := func(version int64) ([]Action, error) {
		txns = txns[:0]
		now := w.opts.Now().UnixMilli()
		params := map[string]any{"outputMode": "Append"}
		if len(appIDs) == 1 { // as Spark's streaming sink: queryId/epochId
			params["queryId"] = appIDs[0]
			params["epochId"] = fmt.Sprint(maxVersion(keep, appIDs[0]))
		}
		acts := []Action{{CommitInfo: w.commitInfo(CommitInfo{
			"timestamp": now, "operation": "STREAMING UPDATE", "engineInfo": EngineInfo, "txnId": txnID,
			"operationParameters": params,
			"readVersion":         version - 1, "isolationLevel": "Serializable", "isBlindAppend": true,
			"operationMetrics": map[string]any{"numFiles": fmt.Sprint(len(adds)), "numOutputRows": fmt.Sprint(len(keep))},
		})}}
		for _, id := range appIDs {
			// The sequence never moves back; the token is ours (checked
			// not below the table's by filterCommitted on this snapshot).
			_, v := w.split(snap.TxnVersion(id))
			for _, r := range keep {
				if r.AppID == id && r.Version > v {
					v = r.Version
				}
			}
			txn := &Txn{AppID: id, Version: w.join(tokens[id], v), LastUpdated: &now}
			txns = append(txns, txn)
			acts = append(acts, Action{Txn: txn})
		}
		for i := range adds {
			acts = append(acts, Action{Add: &adds[i]})
		}
		return acts, nil
	}
	v, err := commitLoop(ctx, w.t.st, snap, ReadSet{AppIDs: appIDs}, txnID, build, w.opts.Policy, w.opts.Events)
	var ce *ConflictError
	if errors.As(err, &ce) && ce.AppID != "" {
		// Another instance committed the same appId: if it fenced us or
		// covered all our rows, our files stay as orphans.
		k, s, ferr := w.filterCommitted(snap, keep)
		if ferr != nil {
			res.Files, res.Bytes = 0, 0
			return res, ferr
		}
		if len(k) == 0 {
			res.RowsSkipped += s
			res.Files, res.Bytes = 0, 0
			return res, nil
		}
	}
	if err != nil {
		return res, err
	}
	for _, txn := range txns {
		w.opts.Own.set(txn.AppID, txn.Version)
	}
	res.Version, res.RowsWritten = v, len(keep)
	if h := w.opts.Hooks.AfterCommit; h != nil {
		if err := h(); err != nil {
			return res, err
		}
	}
	res.Checkpointed = w.afterCommit(ctx, snap, v)
	return res, nil
}

// checkMetadata refuses a snapshot whose schema or partitioning changed
// since the writer opened: rows were built for the schema it opened with.
func (w *Writer) checkMetadata(snap *Snapshot) error {
	if snap.Metadata.SchemaString != w.schemaString || !sameColumns(snap.Metadata.PartitionColumns, w.partitions) {
		return &ConflictError{Version: snap.Version, Reason: "the table metadata changed since the writer opened it", TableChanged: true}
	}
	return nil
}

// commitInfo adds the writer's identity to a commitInfo.
func (w *Writer) commitInfo(ci CommitInfo) CommitInfo {
	if w.opts.WriterID != "" {
		ci["writerId"] = w.opts.WriterID
	}
	return ci
}

// afterCommit writes a checkpoint if version v is due one (a failure is
// reported, the commit stands) and reports whether it did.
func (w *Writer) afterCommit(ctx context.Context, snap *Snapshot, v int64) bool {
	if v <= 0 || v%checkpointInterval(snap.Metadata.Configuration) != 0 {
		return false
	}
	if err := WriteCheckpoint(ctx, w.t.st, snap, w.opts.Now().UnixMilli()); err != nil {
		if w.opts.OnCheckpointError != nil {
			w.opts.OnCheckpointError(err)
		}
		return false
	}
	if _, err := CleanupLog(ctx, w.t.st, snap.Metadata.Configuration, w.opts.Now()); err != nil && w.opts.OnCheckpointError != nil {
		w.opts.OnCheckpointError(err)
	}
	return true
}

// filterCommitted drops records already in the table and refuses (a
// FencedError) records of an appId whose table token is above theirs. A
// record at or below the table's sequence is in the table unless it is a
// forced gap below a version this process wrote with the same token;
// below a lower token it was written by the previous owner.
func (w *Writer) filterCommitted(s *Snapshot, recs []Record) ([]Record, int, error) {
	tokens := recordTokens(recs)
	for app, tok := range tokens {
		if err := w.checkFence(s, app, tok); err != nil {
			return nil, 0, err
		}
	}
	keep := recs[:0:0]
	skipped := 0
	for _, r := range recs {
		if r.AppID != "" {
			v := s.TxnVersion(r.AppID)
			tt, seq := w.split(v)
			if r.Version <= seq && (tt < tokens[r.AppID] || !r.Force || w.opts.Own.foreign(r.AppID, v)) {
				skipped++
				continue
			}
		}
		keep = append(keep, r)
	}
	return keep, skipped, nil
}

func maxVersion(recs []Record, appID string) int64 {
	v := int64(-1)
	for _, r := range recs {
		if r.AppID == appID && r.Version > v {
			v = r.Version
		}
	}
	return v
}

func txnAppIDs(recs []Record) []string {
	seen := map[string]bool{}
	var ids []string
	for _, r := range recs {
		if r.AppID != "" && !seen[r.AppID] {
			seen[r.AppID] = true
			ids = append(ids, r.AppID)
		}
	}
	sort.Strings(ids)
	return ids
}

// writeFiles uploads one or more files per partition value (split at the
// target size) and returns their add actions.
func (w *Writer) writeFiles(ctx context.Context, snap *Snapshot, recs []Record) ([]Add, error) {
	schema, parts := snap.Schema, snap.Metadata.PartitionColumns
	groups := map[string][]Row{}
	values := map[string]map[string]*string{}
	var order []string
	for _, r := range recs {
		if len(r.Row) != len(schema.Fields) {
			return nil, fmt.Errorf("delta: row has %d values, schema has %d columns", len(r.Row), len(schema.Fields))
		}
		pv := map[string]*string{}
		for _, c := range parts {
			i := schema.Index(c)
			pv[c] = PartitionValue(schema.Fields[i].Type, r.Row[i])
		}
		dir := PartitionDir(parts, pv)
		if _, ok := groups[dir]; !ok {
			order = append(order, dir)
			values[dir] = pv
		}
		groups[dir] = append(groups[dir], r.Row)
	}
	statsCols := statsColumns(snap.Metadata.Configuration)
	var adds []Add
	for _, dir := range order {
		for _, chunk := range splitBySize(schema, groups[dir], w.opts.TargetFileSize) {
			data, stats, err := WriteParquet(schema, parts, chunk, w.opts.Codec, statsCols)
			if err != nil {
				return nil, err
			}
			name := "part-00000-" + uuid.NewString() + "-c000"
			if w.opts.CodecName != "" {
				name += "." + w.opts.CodecName
			}
			name += ".parquet"
			rel := name
			if dir != "" {
				rel = dir + "/" + name
			}
			if err := w.t.st.Put(ctx, rel, data); err != nil {
				return nil, err
			}
			pv := PartitionValues{}
			for c, v := range values[dir] {
				pv[c] = "" // null
				if v != nil {
					pv[c] = *v
				}
			}
			adds = append(adds, Add{
				Path: EncodePath(rel), PartitionValues: pv, Size: int64(len(data)),
				ModificationTime: w.opts.Now().UnixMilli(), DataChange: true, Stats: stats.JSON(),
			})
		}
	}
	return adds, nil
}

// splitBySize cuts rows into chunks whose estimated encoded size stays near
// target (the estimate is the raw value size; compression only shrinks it).
func splitBySize(s Schema, rows []Row, target int64) [][]Row {
	var out [][]Row
	start, size := 0, int64(0)
	for i, r := range rows {
		size += rowSize(r)
		if size >= target && i+1 < len(rows) {
			out = append(out, rows[start:i+1])
			start, size = i+1, 0
		}
	}
	return append(out, rows[start:])
}

func rowSize(r Row) int64 {
	var n int64
	for _, v := range r {
		switch x := v.(type) {
		case string:
			n += int64(len(x)) + 4
		case []byte:
			n += int64(len(x)) + 4
		case int32, float32:
			n += 4
		default:
			n += 8
		}
	}
	return n
}
