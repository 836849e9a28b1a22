package delta

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// TestOptimizeOnePartition compacts one day of a table partitioned by a date
// column and leaves the other days' files alone (the bronze table's daily job).
func TestOptimizeOnePartition(t *testing.T) {
	ctx := context.Background()
	st, _ := objstore.NewLocal(t.TempDir())
	clock := &fixedClock{time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	s.Fields = append(s.Fields, Field{Name: "event_date", Type: Type{Name: "date"}, Nullable: true})
	w := newTestWriter(t, st, TableConfig{Schema: s, PartitionColumns: []string{"event_date"}}, clock)
	days := []string{"2026-03-13", "2026-03-14"}
	for v := int64(1); v <= 8; v++ {
		var recs []Record
		for _, d := range days { // every commit adds one file to each day
			r := ridesRecord(t, s, "FR", int(v), v, "app", v)
			r.Row[6], _ = ConvertValue(s.Fields[6].Type, d)
			recs = append(recs, r)
		}
		if _, err := w.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	filesPerDay := func() map[string]int {
		snap, err := LoadSnapshot(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, a := range snap.Files {
			n[a.PartitionValues["event_date"]]++
		}
		return n
	}
	if got := filesPerDay(); got["2026-03-13"] != 8 || got["2026-03-14"] != 8 {
		t.Fatalf("files per day before optimize: %v", got)
	}
	if _, err := Optimize(ctx, st, OptimizeOptions{Now: clock.Now, Partitions: map[string][]string{"no_such": {"x"}}}); err == nil ||
		!strings.Contains(err.Error(), "no_such") {
		t.Fatalf("a filter on a non-partition column must be refused naming it, got %v", err)
	}
	res, err := Optimize(ctx, st, OptimizeOptions{Now: clock.Now, Partitions: map[string][]string{"EVENT_DATE": {"2026-03-14"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesRemoved != 8 || res.FilesAdded != 1 || res.Rows != 8 {
		t.Fatalf("optimize of one day: %+v, want its 8 files into 1", res)
	}
	if got := filesPerDay(); got["2026-03-13"] != 8 || got["2026-03-14"] != 1 {
		t.Fatalf("files per day after optimizing 2026-03-14: %v, want 8 and 1", got)
	}
	rows, err := ReadAllRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 16 {
		t.Fatalf("%d rows after optimize, want 16", len(rows))
	}
	acts, _ := readCommit(ctx, st, res.Version)
	if !strings.Contains(fmt.Sprint(acts[0].CommitInfo["operationParameters"]), "2026-03-14") {
		t.Fatalf("commitInfo predicate does not name the day: %v", acts[0].CommitInfo)
	}
}
