package delta

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// fencingWriter is a writer with fencing tokens and a writer id.
func fencingWriter(t *testing.T, st objstore.Store, id string, clock *fixedClock) *Writer {
	t.Helper()
	w := newTestWriter(t, st, TableConfig{Schema: ridesSchema()}, clock)
	w.opts.Fencing, w.opts.WriterID = true, id
	return w
}

func tokenRec(t *testing.T, city string, seq, token int64) Record {
	r := ridesRecord(t, ridesSchema(), city, int(seq)*5, seq, "app-0", seq)
	r.Token = token
	return r
}

// twoFencingWriters is the set-up of a takeover: replica-a and replica-b
// writing the same table, on one clock.
func twoFencingWriters(t *testing.T) (context.Context, objstore.Store, *Writer, *Writer) {
	t.Helper()
	st := memStore(t)
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	return context.Background(), st, fencingWriter(t, st, "replica-a", clock), fencingWriter(t, st, "replica-b", clock)
}

// mustAppend appends records that must commit.
func mustAppend(ctx context.Context, t *testing.T, w *Writer, recs ...Record) {
	t.Helper()
	if _, err := w.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
}

// commitsOf reads every commit of the log: writer id, whether it added
// files, and its txn version of app-0 ("-": none).
func commitsOf(t *testing.T, st objstore.Store) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for v := int64(1); ; v++ {
		acts, err := readCommit(ctx, st, v)
		if errors.Is(err, objstore.ErrNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		who, adds, txn := "", 0, "-"
		for _, a := range acts {
			switch {
			case a.CommitInfo != nil:
				who, _ = a.CommitInfo["writerId"].(string)
			case a.Add != nil:
				adds++
			case a.Txn != nil && a.Txn.AppID == "app-0":
				tok, seq := SplitTxnVersion(a.Txn.Version)
				txn = fmt.Sprintf("%d/%d", tok, seq)
			}
		}
		out = append(out, fmt.Sprintf("%s adds=%d txn=%s", who, adds, txn))
	}
}

// A with token 1 commits up to seq 5; B takes the appId over with token 2
// (a txn-only commit); A's seq 6 is refused and nothing is committed; B
// writes seq 6.
func TestAFencedWriterCannotCommitAndTheNewOwnerGoesOn(t *testing.T) {
	ctx, st, a, b := twoFencingWriters(t)
	for seq := int64(1); seq <= 5; seq++ {
		mustAppend(ctx, t, a, tokenRec(t, "PARIS", seq, 1))
	}
	fr, err := b.Fence(ctx, map[string]int64{"app-0": 2})
	if err != nil || fr.Version != 6 || len(fr.Raised) != 1 {
		t.Fatalf("fence: %+v %v, want a commit at version 6 raising app-0", fr, err)
	}
	if fr, err := b.Fence(ctx, map[string]int64{"app-0": 2}); err != nil || fr.Version != -1 {
		t.Fatalf("a second fence with the same token committed: %+v %v", fr, err)
	}
	res, err := a.Append(ctx, []Record{tokenRec(t, "PARIS", 6, 1)})
	var fe *FencedError
	if !errors.As(err, &fe) || fe.TableToken != 2 || fe.Token != 1 || fe.TableSeq != 5 || res.Version != -1 {
		t.Fatalf("A's seq 6 after B's fence: %+v, %v; want a FencedError (table token 2, ours 1, seq 5)", res, err)
	}
	if _, err := a.Fence(ctx, map[string]int64{"app-0": 1}); !IsFenced(err) {
		t.Fatalf("A's own fence with the lower token: %v, want fenced", err)
	}
	if res, err := b.Append(ctx, []Record{tokenRec(t, "PARIS", 6, 2)}); err != nil || res.RowsWritten != 1 {
		t.Fatalf("B's seq 6: %+v %v", res, err)
	}
	got := fmt.Sprint(commitsOf(t, st))
	want := "[replica-a adds=1 txn=1/1 replica-a adds=1 txn=1/2 replica-a adds=1 txn=1/3 replica-a adds=1 txn=1/4 replica-a adds=1 txn=1/5 " +
		"replica-b adds=0 txn=2/5 replica-b adds=1 txn=2/6]"
	if got != want {
		t.Fatalf("log:\n got %s\nwant %s", got, want)
	}
	rows, err := ReadAllRows(ctx, st)
	if err != nil || len(rows) != 6 {
		t.Fatalf("%d rows (%v), want seqs 1..6 once each", len(rows), err)
	}
}

// A commits seq 6 before B's fence lands: B's fence keeps seq 6, and B's
// own seq 6 (the same window, recomputed) is skipped: no row twice.
func TestATakeoverSkipsWhatThePreviousOwnerCommittedBeforeTheFence(t *testing.T) {
	ctx, st, a, b := twoFencingWriters(t)
	for seq := int64(5); seq <= 6; seq++ {
		mustAppend(ctx, t, a, tokenRec(t, "PARIS", seq, 1))
	}
	if _, err := b.Fence(ctx, map[string]int64{"app-0": 2}); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Append(ctx, []Record{tokenRec(t, "PARIS", 6, 2)}); err != nil || res.RowsWritten != 0 || res.RowsSkipped != 1 {
		t.Fatalf("B's seq 6, already written by A: %+v %v; want skipped", res, err)
	}
	// Without a fence first, B's rows themselves take the appId over.
	if res, err := b.Append(ctx, []Record{tokenRec(t, "PARIS", 6, 3), tokenRec(t, "LYON", 7, 3)}); err != nil || res.RowsWritten != 1 || res.RowsSkipped != 1 {
		t.Fatalf("B (token 3) seq 6 and 7: %+v %v; want 6 skipped, 7 written", res, err)
	}
	rows, err := ReadAllRows(ctx, st)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows (%v), want seqs 5, 6, 7 once each", len(rows), err)
	}
	snap, err := LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if tok, seq := SplitTxnVersion(snap.TxnVersion("app-0")); tok != 3 || seq != 7 {
		t.Fatalf("txn of app-0 = token %d seq %d, want 3/7", tok, seq)
	}
}

// The check and the commit are a compare-and-set: A checks its token, then
// B's fence lands before A's put; A's put-if-absent loses, A sees B's txn
// and is refused, its files left as orphans.
func TestAFenceLandingBetweenCheckAndCommitRefusesTheCommit(t *testing.T) {
	ctx, st, a, b := twoFencingWriters(t)
	mustAppend(ctx, t, a, tokenRec(t, "PARIS", 1, 1))
	a.opts.Hooks.AfterUpload = func() error {
		_, err := b.Fence(ctx, map[string]int64{"app-0": 2})
		return err
	}
	res, err := a.Append(ctx, []Record{tokenRec(t, "PARIS", 2, 1)})
	if !IsFenced(err) || res.Version != -1 {
		t.Fatalf("A's commit racing B's fence: %+v %v, want fenced", res, err)
	}
	if got, want := fmt.Sprint(commitsOf(t, st)), "[replica-a adds=1 txn=1/1 replica-b adds=0 txn=2/1]"; got != want {
		t.Fatalf("log:\n got %s\nwant %s", got, want)
	}
}

// Token 0 is no token: a fencing writer without one writes version = seq,
// as a writer without fencing; a token then takes such a table over, and
// a tokenless writer is fenced by it.
func TestNoTokenIsVersionEqualsSequence(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	plain := newTestWriter(t, st, TableConfig{Schema: ridesSchema()}, clock)
	if _, err := plain.Append(ctx, []Record{tokenRec(t, "PARIS", 3, 0)}); err != nil {
		t.Fatal(err)
	}
	zero := fencingWriter(t, st, "", clock)
	if _, err := zero.Append(ctx, []Record{tokenRec(t, "PARIS", 4, 0)}); err != nil {
		t.Fatal(err)
	}
	if v := zero.TxnVersion("app-0"); v != 4 {
		t.Fatalf("tokenless txn version %d, want 4", v)
	}
	b := fencingWriter(t, st, "b", clock)
	if res, err := b.Append(ctx, []Record{tokenRec(t, "PARIS", 4, 7), tokenRec(t, "LYON", 5, 7)}); err != nil || res.RowsWritten != 1 {
		t.Fatalf("token 7 over a tokenless table: %+v %v", res, err)
	}
	if v := b.TxnVersion("app-0"); v != 7<<32|5 {
		t.Fatalf("txn version %d, want 7<<32|5", v)
	}
	if _, err := zero.Append(ctx, []Record{tokenRec(t, "NICE", 6, 0)}); !IsFenced(err) {
		t.Fatalf("a tokenless writer after token 7: %v, want fenced", err)
	}
}

func TestFencedTxnVersionBounds(t *testing.T) {
	if tok, seq := SplitTxnVersion(FencedTxnVersion(MaxFenceToken, MaxFencedSeq)); tok != MaxFenceToken || seq != MaxFencedSeq {
		t.Fatalf("round trip of the largest values: %d %d", tok, seq)
	}
	if FencedTxnVersion(MaxFenceToken, MaxFencedSeq) < 0 {
		t.Fatal("the largest fenced version is negative")
	}
	for _, c := range [][2]int64{{-1, 0}, {MaxFenceToken + 1, 0}, {0, -1}, {0, MaxFencedSeq + 1}} {
		if CheckFencedRange(c[0], c[1]) == nil {
			t.Errorf("token %d seq %d accepted", c[0], c[1])
		}
	}
}

// Found by the real-broker SIGSTOP test: A was paused after its check;
// meanwhile B committed something unrelated and then fenced app-0. A's put
// loses to the unrelated commit, and the commits after it are caught up
// with: the fence among them must be a conflict, re-checked and refused,
// not absorbed into A's snapshot (A then committed token 1 over token 2).
func TestAFenceBehindAnUnrelatedCommitStillRefusesTheCommit(t *testing.T) {
	ctx, st, a, b := twoFencingWriters(t)
	mustAppend(ctx, t, a, tokenRec(t, "PARIS", 1, 1))
	a.opts.Hooks.AfterUpload = func() error {
		other := ridesRecord(t, ridesSchema(), "NICE", 1, 1, "app-9", 1)
		other.Token = 2
		if _, err := b.Append(ctx, []Record{other}); err != nil {
			return err
		}
		_, err := b.Fence(ctx, map[string]int64{"app-0": 2})
		return err
	}
	res, err := a.Append(ctx, []Record{tokenRec(t, "PARIS", 2, 1)})
	if !IsFenced(err) || res.Version != -1 {
		t.Fatalf("A's commit behind an unrelated commit and B's fence: %+v %v, want fenced", res, err)
	}
	if got, want := fmt.Sprint(commitsOf(t, st)), "[replica-a adds=1 txn=1/1 replica-b adds=1 txn=- replica-b adds=0 txn=2/1]"; got != want {
		t.Fatalf("log:\n got %s\nwant %s", got, want)
	}
}

// The same hole without tokens: B commits an unrelated appId, then app-0's
// sequence 2 (the same window A is committing); A's put loses to the
// unrelated commit and must see B's sequence 2 on catching up: skipped,
// not written twice.
func TestASequenceCommittedBehindAnUnrelatedCommitIsNotWrittenTwice(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	a := newTestWriter(t, st, TableConfig{Schema: ridesSchema()}, clock)
	b := newTestWriter(t, st, TableConfig{Schema: ridesSchema()}, clock)
	mustAppend(ctx, t, a, tokenRec(t, "PARIS", 1, 0))
	a.opts.Hooks.AfterUpload = func() error {
		if _, err := b.Append(ctx, []Record{ridesRecord(t, ridesSchema(), "NICE", 1, 1, "app-9", 1)}); err != nil {
			return err
		}
		_, err := b.Append(ctx, []Record{tokenRec(t, "PARIS", 2, 0)})
		return err
	}
	res, err := a.Append(ctx, []Record{tokenRec(t, "PARIS", 2, 0)})
	if err != nil || res.Version != -1 || res.RowsSkipped != 1 {
		t.Fatalf("A's sequence 2, committed by B behind an unrelated commit: %+v %v, want skipped", res, err)
	}
	rows, err := ReadAllRows(ctx, st)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows (%v), want 3: app-0 seq 1 and 2 once each, app-9 seq 1", len(rows), err)
	}
}
