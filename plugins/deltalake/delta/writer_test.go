package delta

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// ridesSchema is the seed's output table plus a timestamp column.
func ridesSchema() Schema {
	return Schema{Fields: []Field{
		{Name: "city", Type: Type{Name: "string"}, Nullable: false},
		{Name: "win_start", Type: Type{Name: "string"}, Nullable: true},
		{Name: "window_start", Type: Type{Name: "timestamp"}, Nullable: true},
		{Name: "revenue", Type: Type{Name: "double"}, Nullable: true},
		{Name: "avg_distance", Type: Type{Name: "double"}, Nullable: true},
		{Name: "cnt", Type: Type{Name: "long"}, Nullable: false},
	}}
}

// fixedClock is an injectable clock tests move by hand.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func ridesRecord(t testing.TB, s Schema, city string, minute int, cnt int64, appID string, version int64) Record {
	t.Helper()
	ws := time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)
	row, err := RowFromMap(s, map[string]any{
		"city": city, "win_start": ws.Format("2006-01-02 15:04:05"), "window_start": ws.Format(time.RFC3339),
		"revenue": float64(cnt) * 12.5, "avg_distance": 10.25, "cnt": json.Number(fmt.Sprint(cnt)),
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	return Record{Row: row, AppID: appID, Version: version}
}

func newTestWriter(t testing.TB, st objstore.Store, cfg TableConfig, clock *fixedClock) *Writer {
	t.Helper()
	tbl, err := CreateOrOpen(context.Background(), st, cfg, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	codec, name, _ := Codec("zstd")
	return NewWriter(tbl, WriterOptions{Codec: codec, CodecName: name, Now: clock.Now})
}

func TestAppendAndReadBack(t *testing.T) {
	ctx := context.Background()
	st, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	w := newTestWriter(t, st, TableConfig{Schema: s}, clock)
	var want []Record
	for v := int64(1); v <= 3; v++ {
		batch := []Record{
			ridesRecord(t, s, "PARIS", int(v*5), v, "app", v),
			ridesRecord(t, s, "ANTANANARIVO", int(v*5), v+10, "app", v),
		}
		res, err := w.Append(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if res.Version != v || res.RowsWritten != 2 {
			t.Fatalf("append %d: %+v", v, res)
		}
		want = append(want, batch...)
	}
	rows, err := ReadAllRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("read %d rows, wrote %d", len(rows), len(want))
	}
	var sum int64
	for _, r := range rows {
		sum += r["cnt"].(int64)
		if ts, ok := r["window_start"].(time.Time); !ok || ts.Location() != time.UTC {
			t.Fatalf("window_start = %#v, want a UTC time", r["window_start"])
		}
	}
	if sum != 1+2+3+11+12+13 {
		t.Fatalf("sum(cnt) = %d", sum)
	}
	snap, err := LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if snap.TxnVersion("app") != 3 || snap.Version != 3 || len(snap.Files) != 3 {
		t.Fatalf("snapshot: version %d, txn %d, files %d", snap.Version, snap.TxnVersion("app"), len(snap.Files))
	}
	// Re-sending version 2 is acked without writing.
	res, err := w.Append(ctx, []Record{ridesRecord(t, s, "PARIS", 10, 2, "app", 2)})
	if err != nil || res.RowsSkipped != 1 || res.Version != -1 {
		t.Fatalf("duplicate append: %+v, %v", res, err)
	}
	log0, _ := st.Get(ctx, CommitKey(1))
	if !strings.Contains(string(log0), `"txn":{"appId":"app","version":1`) {
		t.Fatalf("commit 1 lacks the txn: %s", log0)
	}
}

// TestLargeFileRoundTrip writes more rows than one parquet write chunk and
// checks every value comes back, and that target_file_size splits files.
func TestLargeFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	w := newTestWriter(t, st, TableConfig{Schema: s}, clock)
	const n = 5000
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = ridesRecord(t, s, fmt.Sprintf("CITY-%04d", i), i%60, int64(i), "", 0)
	}
	res, err := w.Append(ctx, recs)
	if err != nil || res.Files != 1 {
		t.Fatalf("append: %+v, %v", res, err)
	}
	rows, err := ReadAllRows(ctx, st)
	if err != nil || len(rows) != n {
		t.Fatalf("read %d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		cnt := r["cnt"].(int64)
		if r["city"] != fmt.Sprintf("CITY-%04d", cnt) || r["revenue"] != float64(cnt)*12.5 {
			t.Fatalf("row mixed up: %v", r)
		}
	}
	w.opts.TargetFileSize = 64 << 10
	res, err = w.Append(ctx, recs)
	if err != nil || res.Files < 3 {
		t.Fatalf("with a 64 KiB target: %d files, %v; want the rows split", res.Files, err)
	}
}

// TestTwoInstancesSameAppID: two writers with the same appId race to commit
// the same sequence; exactly one commit holds the rows, the other instance
// sees the winner's txn and skips.
func TestTwoInstancesSameAppID(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	ws := []*Writer{newTestWriter(t, st, TableConfig{Schema: s}, clock), newTestWriter(t, st, TableConfig{Schema: s}, clock)}
	for _, w := range ws {
		w.opts.Policy = noSleep
	}
	results := make([]AppendResult, 2)
	errs := make([]error, 2)
	start := make(chan struct{})
	done := make(chan int)
	for i := range ws {
		go func(i int) {
			<-start
			results[i], errs[i] = ws[i].Append(ctx, []Record{ridesRecord(t, s, "PARIS", 5, 1, "app", 1)})
			done <- i
		}(i)
	}
	close(start)
	<-done
	<-done
	var committed, skipped int
	for i := range ws {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if results[i].Version >= 0 {
			committed++
		} else if results[i].RowsSkipped == 1 {
			skipped++
		}
	}
	rows, _ := ReadAllRows(ctx, st)
	if committed != 1 || skipped != 1 || len(rows) != 1 {
		t.Fatalf("committed %d, skipped %d, rows %d; want 1, 1, 1", committed, skipped, len(rows))
	}
}

// memStore is a fresh in-memory store (unique even with -count > 1).
func memStore(t testing.TB) objstore.Store {
	return objstore.Memory(fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()))
}
