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
	// Token is the writer's fencing token for AppID (fence.go); 0 = none.
	// Only with WriterOptions.Fencing.
	Token int64
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
	// Fencing makes every txn version token<<32 | seq (fence.go): records
	// carry their Token, and a writer whose token is below the table's is
	// refused with a FencedError. For window sequences only (Kafka offsets
	// may not fit 32 bits). Such a writer also records the sequences it
	// commits past as holes (holes.go).
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
	// HolesDropped are sequences committed past so long ago, or among so
	// many other holes, that they are no longer kept as missing (holes.go).
	HolesDropped map[string][][2]int64
}

// TxnVersion returns the committed version of appID in the cached snapshot.
func (w *Writer) TxnVersion(appID string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t.snap.TxnVersion(appID)
}

// Refresh reads the log's new commits into the cached snapshot, so that
// TxnView sees what other writers committed since.
func (w *Writer) Refresh(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.t.snap.Update(ctx, w.t.st)
	return err
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
	build := func(version int64) ([]Action, error) {
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
		res.HolesDropped = nil
		for _, id := range appIDs {
			// The sequence never moves back; the token is ours (checked
			// not below the table's by filterCommitted on this snapshot).
			view := w.view(snap, id)
			seq := max(view.Seq, maxVersion(keep, id))
			txn := &Txn{AppID: id, Version: w.join(tokens[id], seq), LastUpdated: &now}
			acts = append(acts, Action{Txn: txn})
			if !w.opts.Fencing {
				continue
			}
			holes, dropped := nextHoles(view, versionsOf(keep, id), seq)
			acts = append(acts, holeActions(snap, id, holes, now)...)
			if len(dropped) > 0 {
				if res.HolesDropped == nil {
					res.HolesDropped = map[string][][2]int64{}
				}
				res.HolesDropped[id] = dropped
			}
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

// filterCommitted drops records already in the table (TxnView: at or
// below the appId's sequence and in none of its holes) and refuses (a
// FencedError) records of an appId whose table token is above theirs.
// Below a lower token, the previous owner's sequences are in the table and
// its holes are not, as for our own.
func (w *Writer) filterCommitted(s *Snapshot, recs []Record) ([]Record, int, error) {
	tokens := recordTokens(recs)
	for app, tok := range tokens {
		if err := w.checkFence(s, app, tok); err != nil {
			return nil, 0, err
		}
	}
	views := map[string]TxnView{}
	keep := recs[:0:0]
	skipped := 0
	for _, r := range recs {
		if r.AppID != "" {
			v, ok := views[r.AppID]
			if !ok {
				v = w.view(s, r.AppID)
				views[r.AppID] = v
			}
			if v.Contains(r.Version) {
				skipped++
				continue
			}
		}
		keep = append(keep, r)
	}
	return keep, skipped, nil
}

// versionsOf is the versions of appID's records, each run of equal ones
// once (an emission's rows are consecutive).
func versionsOf(recs []Record, appID string) []int64 {
	var vs []int64
	for _, r := range recs {
		if n := len(vs); r.AppID == appID && (n == 0 || vs[n-1] != r.Version) {
			vs = append(vs, r.Version)
		}
	}
	return vs
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
