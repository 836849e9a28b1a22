package delta

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/google/uuid"
)

// Fencing: several writers may own one txn appId one after the other (a
// scaled-out job whose internal partition moves between replicas). A
// writer that lost the appId but does not know it yet (a paused process
// that woke up) must not commit. Each owner holds a fencing token that grows
// from owner to owner (Kafka's consumer-group generation at which it was
// assigned the partition), and the txn version carries it:
//
//	version = token<<32 | seq
//
// A writer whose token is below the table's is fenced: it commits nothing.
// A writer whose token is above takes the appId over: every seq up to the
// table's is already in (written by the previous owner), and its own commits
// carry its token, which fences the previous owner. The check is made on
// the snapshot the commit is built on, and the commit is put-if-absent: a
// commit of the same appId that lands first is a conflict, after which the
// check is made again; together a compare-and-set on the txn version.
//
// Token 0 is "no token": version = seq, as a writer without fencing
// writes, so existing tables and writers keep their versions.

// Bounds of a fenced txn version: the token fits in 31 bits (a Kafka
// generation is an int32) and the sequence in 32.
const (
	MaxFenceToken = 1<<31 - 1
	MaxFencedSeq  = 1<<32 - 1
)

// FencedTxnVersion packs a token and a sequence into a txn version.
func FencedTxnVersion(token, seq int64) int64 { return token<<32 | seq }

// SplitTxnVersion is FencedTxnVersion's inverse; a negative version (no txn)
// is token 0 with that version as the sequence.
func SplitTxnVersion(v int64) (token, seq int64) {
	if v < 0 {
		return 0, v
	}
	return v >> 32, v & MaxFencedSeq
}

// CheckFencedRange tells whether token and seq fit a fenced txn version.
func CheckFencedRange(token, seq int64) error {
	if token < 0 || token > MaxFenceToken {
		return fmt.Errorf("fencing token %d out of range 0..%d", token, int64(MaxFenceToken))
	}
	if seq < 0 || seq > MaxFencedSeq {
		return fmt.Errorf("sequence %d out of range 0..%d (with fencing the txn version keeps 32 bits for it)", seq, int64(MaxFencedSeq))
	}
	return nil
}

// FencedError: the table's token for AppID is above this writer's, so a
// newer owner has taken the appId over and this writer must not commit.
type FencedError struct {
	AppID       string
	Token       int64 // this writer's
	TableToken  int64 // the table's
	TableSeq    int64 // the table's sequence of AppID
	TxnVersion  int64 // the table's txn version of AppID
	SnapVersion int64 // the table version that was checked
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("delta: fenced: txn appId %q has fencing token %d in the table (version %d, sequence %d), above this writer's %d: a newer owner took it over, nothing was committed",
		e.AppID, e.TableToken, e.SnapVersion, e.TableSeq, e.Token)
}

// IsFenced reports whether err is (or wraps) a FencedError.
func IsFenced(err error) bool {
	var fe *FencedError
	return errors.As(err, &fe)
}

// split reads a table txn version as (token, seq) when the writer fences
// (WriterOptions.Fencing), and as (0, version) otherwise.
func (w *Writer) split(v int64) (token, seq int64) {
	if !w.opts.Fencing {
		return 0, v
	}
	return SplitTxnVersion(v)
}

// join is split's inverse.
func (w *Writer) join(token, seq int64) int64 {
	if !w.opts.Fencing {
		return seq
	}
	return FencedTxnVersion(token, seq)
}

// recordTokens is the token of each appId among recs (the highest, should
// one batch hold rows of two owner periods of this process).
func recordTokens(recs []Record) map[string]int64 {
	out := map[string]int64{}
	for _, r := range recs {
		if t, seen := out[r.AppID]; r.AppID != "" && (!seen || r.Token > t) {
			out[r.AppID] = r.Token
		}
	}
	return out
}

// checkFence returns a FencedError if the snapshot's token of appID is above
// token.
func (w *Writer) checkFence(s *Snapshot, appID string, token int64) error {
	tv := s.TxnVersion(appID)
	tt, ts := w.split(tv)
	if tt > token {
		return &FencedError{AppID: appID, Token: token, TableToken: tt, TableSeq: ts, TxnVersion: tv, SnapVersion: s.Version}
	}
	return nil
}

// FenceResult reports what Fence did.
type FenceResult struct {
	Version int64    // the commit, -1 if none was needed
	Raised  []string // appIds whose token the commit raised
}

// Fence raises the fencing token of each appId in tokens to its value with
// a commit of txn actions only (no data), so that a previous owner of the
// appId cannot commit any more, even before this writer has rows for it.
// An appId whose table token is already that value is left alone; one whose
// table token is higher returns a FencedError and nothing is committed. The
// sequence is kept: rows of every sequence up to it are in the table.
func (w *Writer) Fence(ctx context.Context, tokens map[string]int64) (FenceResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	res := FenceResult{Version: -1}
	if !w.opts.Fencing {
		return res, errors.New("delta: Fence needs WriterOptions.Fencing")
	}
	snap := w.t.snap
	if _, err := snap.Update(ctx, w.t.st); err != nil {
		return res, err
	}
	if err := w.checkMetadata(snap); err != nil {
		return res, err
	}
	apps := make([]string, 0, len(tokens))
	for app, tok := range tokens {
		if err := CheckFencedRange(tok, 0); err != nil {
			return res, fmt.Errorf("delta: appId %q: %w", app, err)
		}
		apps = append(apps, app)
	}
	sort.Strings(apps)
	txnID := uuid.NewString()
	// A racing commit of one of these appIds is a conflict: decide again on
	// the snapshot that now holds it.
	for attempt := 0; ; attempt++ {
		var raise []string
		for _, app := range apps {
			if err := w.checkFence(snap, app, tokens[app]); err != nil {
				return res, err
			}
			if tt, _ := w.split(snap.TxnVersion(app)); tt < tokens[app] {
				raise = append(raise, app)
			}
		}
		if len(raise) == 0 {
			return res, nil
		}
		build := func(version int64) ([]Action, error) {
			now := w.opts.Now().UnixMilli()
			params := map[string]any{"outputMode": "Append"}
			if len(raise) == 1 {
				params["queryId"] = raise[0]
				params["fenceToken"] = fmt.Sprint(tokens[raise[0]])
			}
			acts := []Action{{CommitInfo: w.commitInfo(CommitInfo{
				"timestamp": now, "operation": "STREAMING UPDATE", "engineInfo": EngineInfo, "txnId": txnID,
				"operationParameters": params,
				"readVersion":         version - 1, "isolationLevel": "Serializable", "isBlindAppend": true,
				"operationMetrics": map[string]any{"numFiles": "0", "numOutputRows": "0"},
			})}}
			for _, app := range raise {
				_, seq := w.split(snap.TxnVersion(app))
				acts = append(acts, Action{Txn: &Txn{AppID: app, Version: w.join(tokens[app], max(seq, 0)), LastUpdated: &now}})
			}
			return acts, nil
		}
		v, err := commitLoop(ctx, w.t.st, snap, ReadSet{AppIDs: raise}, txnID, build, w.opts.Policy, w.opts.Events)
		var ce *ConflictError
		if errors.As(err, &ce) && ce.AppID != "" && attempt < w.opts.Policy.withDefaults().MaxAttempts {
			continue
		}
		if err != nil {
			return res, err
		}
		res.Version, res.Raised = v, raise
		w.afterCommit(ctx, snap, v)
		return res, nil
	}
}

// CheckFence checks token against the cached snapshot, without reading the
// log: an early refusal. Append and Fence check again on the log's tail.
func (w *Writer) CheckFence(appID string, token int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checkFence(w.t.snap, appID, token)
}

// TxnSeq is the sequence part of appID's txn version in the cached
// snapshot (the whole version without fencing; -1 if none).
func (w *Writer) TxnSeq(appID string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, seq := w.split(w.t.snap.TxnVersion(appID))
	return seq
}
