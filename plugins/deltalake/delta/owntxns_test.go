package delta

import (
	"context"
	"testing"
	"time"
)

// Force fills a gap below a txn version this writer wrote (sequence 2 after
// 3), never below one another writer wrote (a zombie's forced sequence that
// a new owner already committed).
func TestForceFillsOwnGapsButNotAnotherWritersVersions(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	a := newTestWriter(t, st, TableConfig{Schema: s}, clock)
	z := newTestWriter(t, st, TableConfig{Schema: s}, clock)
	rec := func(city string, minute int, v int64, force bool) []Record {
		r := ridesRecord(t, s, city, minute, v, "app-0", v)
		r.Force = force
		return []Record{r}
	}
	write := func(w *Writer, recs []Record) AppendResult {
		t.Helper()
		res, err := w.Append(ctx, recs)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	write(a, rec("PARIS", 5, 1, false))
	write(a, rec("PARIS", 15, 3, true)) // 2 is still on its way
	if res := write(a, rec("PARIS", 10, 2, true)); res.RowsWritten != 1 {
		t.Fatalf("own gap (2 below our 3) not filled: %+v", res)
	}
	// z believes 4 is new (its view is stale) and forces it; a wrote 4 first.
	write(a, rec("LYON", 20, 4, true))
	if res := write(z, rec("LYON", 20, 4, true)); res.RowsWritten != 0 || res.RowsSkipped != 1 {
		t.Fatalf("a zombie's forced version 4, committed by another writer, was written: %+v", res)
	}
	if res := write(z, rec("LYON", 25, 5, true)); res.RowsWritten != 1 {
		t.Fatalf("a new version 5 was not written: %+v", res)
	}
	// Now a is the one behind: its forced 5 is skipped, its 6 written.
	if res := write(a, rec("LYON", 25, 5, true)); res.RowsSkipped != 1 {
		t.Fatalf("version 5 written twice: %+v", res)
	}
	rows, err := ReadAllRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("table has %d rows, want 5 (versions 1..5 once each)", len(rows))
	}
}
