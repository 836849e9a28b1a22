package deltalake

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// commitTxnVersions returns the txn version written by each commit 1..n.
func commitTxnVersions(t *testing.T, dir string) []int64 {
	t.Helper()
	ctx := context.Background()
	st, _ := objstore.NewLocal(dir)
	var out []int64
	for v := int64(1); ; v++ {
		b, err := st.Get(ctx, delta.CommitKey(v))
		if err != nil {
			return out
		}
		acts, _ := delta.DecodeCommit(b)
		for _, a := range acts {
			if a.Txn != nil && !strings.Contains(a.Txn.AppID, "#hole") {
				out = append(out, a.Txn.Version)
			}
		}
	}
}

// TestSequenceOutOfOrderIsHeld: with max_in_flight > 1, emission 2 reaching
// the output before emission 1 waits for it, so commits keep sequence order.
func TestSequenceOutOfOrderIsHeld(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	o.inFlight = 2
	o.after = func(time.Duration) <-chan time.Time { return nil } // never times out
	done := make(chan error)
	go func() { done <- o.WriteBatch(ctx, emission(2, "PARIS")) }()
	select {
	case err := <-done:
		t.Fatalf("emission 2 was committed before emission 1 (err %v)", err)
	default:
	}
	if err := o.WriteBatch(ctx, emission(1, "PARIS")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := commitTxnVersions(t, dir); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("txn versions per commit %v, want [1 2]", got)
	}
}

// TestSequenceGapTimeoutThenLateFill: a gap that does not fill in time is
// committed past (and counted); the late emission is still written.
func TestSequenceGapTimeoutThenLateFill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	o.inFlight = 2
	fire := make(chan time.Time)
	close(fire)
	o.after = func(time.Duration) <-chan time.Time { return fire } // injected: already expired
	if err := o.WriteBatch(ctx, emission(2, "PARIS")); err != nil {
		t.Fatal(err)
	}
	if err := o.WriteBatch(ctx, emission(1, "LYON")); err != nil {
		t.Fatal(err)
	}
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2: the late emission 1 must not be skipped", len(rows))
	}
	if got := commitTxnVersions(t, dir); len(got) != 2 || got[1] != 2 {
		t.Fatalf("txn versions %v: the late fill must not move the txn version backwards", got)
	}
}

// TestAGapCommittedPastIsNotWaitedForAgain: once a gap has been committed
// past after the timeout, later sequences do not wait for it again (a table
// replaced under a kept window state would otherwise take one timeout per
// emission, forever), and a missing sequence that still comes is written.
func TestAGapCommittedPastIsNotWaitedForAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	o.inFlight = 2
	waits := 0
	expired := make(chan time.Time)
	close(expired)
	o.after = func(time.Duration) <-chan time.Time { waits++; return expired }
	for _, seq := range []int{3, 4, 5, 1} {
		if err := o.WriteBatch(ctx, emission(seq, "PARIS")); err != nil {
			t.Fatal(err)
		}
	}
	if waits != 1 {
		t.Fatalf("%d gap timeouts waited, want 1: sequences 4 and 5 must not wait for 1..2 again", waits)
	}
	if got := commitTxnVersions(t, dir); len(got) != 4 || got[2] != 5 || got[3] != 5 {
		t.Fatalf("txn versions per commit %v, want [3 4 5 5]: the late 1 written, the txn not moved back", got)
	}
}

// TestAGapCommittedPastSurvivesARestart is the red team's crash of 4 Dec:
// sequence 3 reaches the output before 2 and is committed past the gap
// (max_in_flight 1: nothing else can come while it waits); the process
// dies before 2 is written. The table records 2 as missing, so the
// restarted output writes 2 when the window re-emits it, waits for it
// before 4, and still skips 1 and 3.
func TestAGapCommittedPastSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	for _, seq := range []int{1, 3} {
		if err := o.WriteBatch(ctx, emission(seq, "PARIS")); err != nil {
			t.Fatal(err)
		}
	}
	if v := o.w.TxnView("rides"); v.Seq != 3 || len(v.Holes) != 1 || v.Holes[0] != [2]int64{2, 2} {
		t.Fatalf("table view after 1 and 3: %+v, want seq 3 with hole 2..2", v)
	}
	// The crash: a new output on the same table, nothing carried over.
	r := startOutput(t, dir, "sequence", delta.Hooks{})
	r.inFlight = 2
	r.after = func(time.Duration) <-chan time.Time { return nil } // never times out
	done := make(chan error)
	go func() { done <- r.WriteBatch(ctx, emission(4, "LYON")) }()
	select {
	case err := <-done:
		t.Fatalf("emission 4 committed before the missing 2 after the restart (err %v)", err)
	default:
	}
	replay := append(append(emission(1, "PARIS"), emission(2, "NICE")...), emission(3, "PARIS")...)
	if err := r.WriteBatch(ctx, replay); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4: sequences 1..4 once each", len(rows))
	}
	if v := r.w.TxnView("rides"); v.Seq != 4 || len(v.Holes) != 0 {
		t.Fatalf("table view at the end: %+v, want seq 4 and no hole", v)
	}
}

// TestCloseReleasesWaitingBatch: Close ends a batch waiting for an earlier
// sequence (with an error, so it is redelivered) instead of blocking; Close
// twice is fine.
func TestCloseReleasesWaitingBatch(t *testing.T) {
	ctx := context.Background()
	o := startOutput(t, t.TempDir(), "sequence", delta.Hooks{})
	o.inFlight = 2
	o.after = func(time.Duration) <-chan time.Time { return nil }
	done := make(chan error)
	go func() { done <- o.WriteBatch(ctx, emission(3, "PARIS")) }()
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("a batch released by Close reported success without being committed")
	}
	if err := o.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestAutoCompact(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	o.conf.AutoCompact = 4
	for seq := 1; seq <= 8; seq++ {
		if err := o.WriteBatch(ctx, emission(seq, "PARIS")); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := objstore.NewLocal(dir)
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := snap.ReadRows(ctx, st)
	// Two compactions (after commits 4 and 8): 8 one-row files became 1, and
	// the second one also took the first's output.
	if len(rows) != 8 || len(snap.Files) != 1 || snap.TxnVersion("rides") != 8 {
		t.Fatalf("%d rows in %d files, txn %d; want 8 rows in 1 file, txn 8", len(rows), len(snap.Files), snap.TxnVersion("rides"))
	}
}

// TestSequenceHoleInsideBatch: a batch holding sequences 1 and 3 (2 still
// on its way, merged by the batcher) must not make 2 look committed.
func TestSequenceHoleInsideBatch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	b := append(emission(1, "PARIS"), emission(3, "LYON")...)
	if err := o.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := o.WriteBatch(ctx, emission(2, "NICE")); err != nil {
		t.Fatal(err)
	}
	if err := o.WriteBatch(ctx, emission(3, "LYON")); err != nil { // true duplicate
		t.Fatal(err)
	}
	st, _ := objstore.NewLocal(dir)
	rows, _ := delta.ReadAllRows(ctx, st)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3 (sequence 2 written once, the replay of 3 skipped)", len(rows))
	}
}

// TestAGapBeyondTheHoleSlotsIsGivenUp: with more separate gaps than
// delta.MaxHoles the lowest is no longer recorded, and a row of it that
// still comes is skipped as written (the table cannot tell it from one that
// was); the others stay recorded and are written when they come.
func TestAGapBeyondTheHoleSlotsIsGivenUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	for seq := 2; seq <= 2*(delta.MaxHoles+1); seq += 2 { // 1, 3, 5, ... missing
		if err := o.WriteBatch(ctx, emission(seq, "PARIS")); err != nil {
			t.Fatal(err)
		}
	}
	v := o.w.TxnView("rides")
	if len(v.Holes) != delta.MaxHoles || v.Holes[0] != [2]int64{3, 3} || v.Contains(3) || !v.Contains(1) {
		t.Fatalf("view after %d gaps: %+v, want the %d highest recorded and 1 given up", delta.MaxHoles+1, v, delta.MaxHoles)
	}
	for _, seq := range []int{1, 3} {
		if err := o.WriteBatch(ctx, emission(seq, "LYON")); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if want := delta.MaxHoles + 2; len(rows) != want {
		t.Fatalf("%d rows, want %d: the %d even sequences and 3, not the given-up 1", len(rows), want, delta.MaxHoles+1)
	}
}

// A process taking an appId over (a hot standby, whose view of the table is
// from its start) gets the next sequence after the previous owner's: it
// looks at the table before waiting for the sequences in between, which are
// there. Before, it waited sequence_gap_timeout (10 s) for them on every
// takeover (red team rt20a); here the wait would never end.
func TestATakeoverSeesThePreviousOwnersSequencesBeforeWaiting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	standby := startOutput(t, dir, "sequence", delta.Hooks{})
	standby.inFlight = 4
	standby.after = func(time.Duration) <-chan time.Time { return nil } // a gap wait never times out
	owner := startOutput(t, dir, "sequence", delta.Hooks{})
	for seq := 1; seq <= 3; seq++ {
		if err := owner.WriteBatch(ctx, emission(seq, "PARIS")); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- standby.WriteBatch(ctx, emission(4, "PARIS")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second): // a bound on a hang, not a wait for time to pass
		t.Fatal("the standby waits for sequences 1..3, which the previous owner committed")
	}
	if got := commitTxnVersions(t, dir); len(got) != 4 || got[3] != 4 {
		t.Fatalf("txn versions per commit %v, want [1 2 3 4]", got)
	}
}
