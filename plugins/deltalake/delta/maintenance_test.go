package delta

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

func liveRowCounts(t *testing.T, st objstore.Store) map[int64]int {
	t.Helper()
	rows, err := ReadAllRows(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for _, r := range rows {
		out[r["cnt"].(int64)]++
	}
	return out
}

func TestOptimizeWhileAppending(t *testing.T) {
	ctx := context.Background()
	st, _ := objstore.NewLocal(t.TempDir())
	writeCommits(t, st, nil, 12)
	clock := &fixedClock{time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	tbl, err := CreateOrOpen(ctx, st, TableConfig{Schema: s}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(tbl, WriterOptions{Now: clock.Now, Policy: noSleep})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // appends continue during the compaction
		defer wg.Done()
		for v := 13; v <= 20; v++ {
			if _, err := w.Append(ctx, []Record{ridesRecord(t, s, "X", v, int64(v), "app", int64(v))}); err != nil {
				t.Error(err)
			}
		}
	}()
	res, err := Optimize(ctx, st, OptimizeOptions{Now: clock.Now, Policy: noSleep})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesRemoved != 12 || res.FilesAdded != 1 || res.Rows != 12 {
		t.Fatalf("optimize: %+v, want 12 files into 1", res)
	}
	counts := liveRowCounts(t, st)
	for v := int64(1); v <= 20; v++ {
		if counts[v] != 1 {
			t.Fatalf("row %d present %d times after optimize with concurrent appends", v, counts[v])
		}
	}
	acts, _ := readCommit(ctx, st, res.Version)
	for _, a := range acts {
		if (a.Add != nil && a.Add.DataChange) || (a.Remove != nil && a.Remove.DataChange) {
			t.Fatal("optimize must write dataChange=false")
		}
	}
}

func TestConcurrentOptimizeConflicts(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	writeCommits(t, st, nil, 6)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = Optimize(ctx, st, OptimizeOptions{Policy: noSleep})
		}(i)
	}
	wg.Wait()
	var conflicts int
	for _, err := range errs {
		var ce *ConflictError
		if errors.As(err, &ce) {
			conflicts++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	counts := liveRowCounts(t, st)
	for v := int64(1); v <= 6; v++ {
		if counts[v] != 1 {
			t.Fatalf("row %d present %d times (conflicts %d): two compactions of the same files both committed", v, counts[v], conflicts)
		}
	}
}

func TestVacuum(t *testing.T) {
	ctx := context.Background()
	st, _ := objstore.NewLocal(t.TempDir())
	writeCommits(t, st, nil, 4)
	// An orphan left by a crash between upload and commit.
	_ = st.Put(ctx, "part-00000-orphan-c000.zstd.parquet", []byte("x"))
	t0 := time.Now()
	if _, err := Optimize(ctx, st, OptimizeOptions{Now: func() time.Time { return t0 }}); err != nil {
		t.Fatal(err)
	}
	before := liveRowCounts(t, st)
	if _, err := Vacuum(ctx, st, time.Hour, true, t0); err == nil {
		t.Fatal("a retention shorter than delta.deletedFileRetentionDuration (7 days) was accepted")
	}
	res, err := Vacuum(ctx, st, 168*time.Hour, false, t0)
	if err != nil || len(res.Files) != 0 {
		t.Fatalf("vacuum right after optimize removed %v (%v): files are too young", res.Files, err)
	}
	later := t0.Add(8 * 24 * time.Hour)
	dry, err := Vacuum(ctx, st, 168*time.Hour, true, later)
	if err != nil || len(dry.Files) != 5 || dry.Deleted != 0 {
		t.Fatalf("dry run: %d candidates, %d deleted, %v; want 4 compacted + 1 orphan, none deleted", len(dry.Files), dry.Deleted, err)
	}
	res, err = Vacuum(ctx, st, 168*time.Hour, false, later)
	if err != nil || res.Deleted != 5 {
		t.Fatalf("vacuum deleted %d, %v", res.Deleted, err)
	}
	after := liveRowCounts(t, st)
	if len(after) != len(before) || len(after) != 4 {
		t.Fatalf("vacuum changed the live rows: %v -> %v", before, after)
	}
	if _, err := st.Get(ctx, CommitKey(0)); err != nil {
		t.Fatal("vacuum touched the log")
	}
}
