package delta

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
)

// writeCommits appends n single-row commits with txn versions 1..n.
func writeCommits(t *testing.T, st objstore.Store, props map[string]string, n int) {
	t.Helper()
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	w := newTestWriter(t, st, TableConfig{Schema: s, Properties: props}, clock)
	for v := 1; v <= n; v++ {
		if _, err := w.Append(context.Background(), []Record{ridesRecord(t, s, fmt.Sprintf("C%02d", v), v, int64(v), "app", int64(v))}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSnapshotWithAndWithoutCheckpoint(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	writeCommits(t, st, map[string]string{PropCheckpointInterval: "5"}, 12)
	withCkpt, err := LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if withCkpt.CheckpointVersion != 10 {
		t.Fatalf("loaded from checkpoint %d, want 10 (interval 5, 12 commits)", withCkpt.CheckpointVersion)
	}
	// Same table replayed from JSON only.
	plain := Memory2(t, st, func(k string) bool { return k != lastCheckpointKey && !isCheckpoint(k) })
	noCkpt, err := LoadSnapshot(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if noCkpt.CheckpointVersion != -1 {
		t.Fatal("JSON-only replay used a checkpoint")
	}
	for _, s := range []*Snapshot{withCkpt, noCkpt} {
		if s.Version != 12 || s.TxnVersion("app") != 12 || len(s.Files) != 12 {
			t.Fatalf("snapshot: version %d txn %d files %d", s.Version, s.TxnVersion("app"), len(s.Files))
		}
	}
	if !reflect.DeepEqual(withCkpt.Files, noCkpt.Files) || !reflect.DeepEqual(withCkpt.Metadata, noCkpt.Metadata) || !reflect.DeepEqual(withCkpt.Protocol, noCkpt.Protocol) {
		t.Fatal("checkpoint replay differs from JSON replay")
	}
	// Old JSON commits may be gone once a checkpoint covers them.
	trimmed := Memory2(t, st, func(k string) bool {
		lf, ok := parseLogKey(k)
		return !ok || lf.checkpoint || lf.version > 10
	})
	s, err := LoadSnapshot(ctx, trimmed)
	if err != nil || s.Version != 12 || len(s.Files) != 12 {
		t.Fatalf("snapshot without commits 0..10: %v", err)
	}
	// A stale _last_checkpoint pointing at 5 still finds checkpoint 10.
	stale := Memory2(t, st, func(string) bool { return true })
	_ = stale.Put(ctx, lastCheckpointKey, []byte(`{"version":5,"size":1}`))
	if s, err := LoadSnapshot(ctx, stale); err != nil || s.CheckpointVersion != 10 {
		t.Fatalf("stale hint: checkpoint %v, %v", s.CheckpointVersion, err)
	}
}

func TestCheckpointSchemaFollowsProtocol(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	writeCommits(t, st, nil, 10)
	b, err := st.Get(ctx, CheckpointKey(10))
	if err != nil {
		t.Fatalf("no checkpoint at the default interval 10: %v", err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string]bool{}
	for _, c := range f.Schema().Columns() {
		cols[fmt.Sprint(c)] = true
	}
	for _, want := range [][]string{
		{"add", "partitionValues", "key_value", "key"}, {"add", "partitionValues", "key_value", "value"},
		{"add", "stats"}, {"add", "modificationTime"}, {"txn", "appId"}, {"txn", "version"},
		{"metaData", "schemaString"}, {"metaData", "format", "provider"}, {"protocol", "minReaderVersion"},
		{"remove", "deletionTimestamp"},
	} {
		if !cols[fmt.Sprint(want)] {
			t.Errorf("checkpoint lacks column %v", want)
		}
	}
	rows := make([]ckptRow, 64)
	n, _ := parquet.NewGenericReader[ckptRow](bytes.NewReader(b)).Read(rows)
	var adds, txns, protos int
	for _, r := range rows[:n] {
		switch {
		case r.Add != nil:
			adds++
			if r.Add.PartitionValues == nil {
				t.Error("add.partitionValues must be an (empty) map, not null")
			}
		case r.Txn != nil:
			txns++
		case r.Protocol != nil:
			protos++
			if r.Protocol.ReaderFeatures != nil || r.Protocol.WriterFeatures != nil {
				t.Error("feature lists must be null below protocol (3,7)")
			}
		}
	}
	if adds != 10 || txns != 1 || protos != 1 {
		t.Fatalf("checkpoint has %d adds, %d txns, %d protocols", adds, txns, protos)
	}
	lc, err := readLastCheckpoint(ctx, st)
	if err != nil || lc == nil || lc.Version != 10 || lc.Size != int64(n) {
		t.Fatalf("_last_checkpoint = %+v, %v (rows %d)", lc, err, n)
	}
}

func TestSnapshotRefusesLogGap(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	writeCommits(t, st, nil, 3)
	_ = st.Delete(ctx, CommitKey(2))
	if _, err := LoadSnapshot(ctx, st); err == nil {
		t.Fatal("a log with a missing version was accepted")
	}
	if _, err := LoadSnapshot(ctx, memStore(t)); err != ErrNoTable {
		t.Fatalf("empty location: %v, want ErrNoTable", err)
	}
}

func isCheckpoint(k string) bool {
	lf, ok := parseLogKey(k)
	return ok && lf.checkpoint
}

// Memory2 copies the keys of src accepted by keep into a new memory store.
func Memory2(t *testing.T, src objstore.Store, keep func(string) bool) objstore.Store {
	t.Helper()
	ctx := context.Background()
	dst := objstore.Memory(fmt.Sprintf("%s-copy-%d", t.Name(), time.Now().UnixNano()))
	objs, err := src.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if keep(o.Key) {
			b, _ := src.Get(ctx, o.Key)
			_ = dst.Put(ctx, o.Key, b)
		}
	}
	return dst
}

func TestReaderRefusesReaderFeatures(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	writeCommits(t, st, nil, 1)
	s, _ := LoadSnapshot(ctx, st)
	s.Protocol = Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"deletionVectors"}, WriterFeatures: []string{"deletionVectors"}}
	if _, err := s.ReadRows(ctx, st); err == nil {
		t.Fatal("a table with deletion vectors was read as if it had none")
	}
}

func TestCleanupLogKeepsTableReadable(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	writeCommits(t, st, nil, 25) // checkpoints at 10 and 20
	// Within the retention nothing goes.
	if n, err := CleanupLog(ctx, st, nil, time.Now()); err != nil || n != 0 {
		t.Fatalf("cleanup inside the retention deleted %d files (%v)", n, err)
	}
	if n, _ := CleanupLog(ctx, st, map[string]string{PropExpiredLogCleanup: "false"}, time.Now().Add(60*24*time.Hour)); n != 0 {
		t.Fatal("cleanup ran although delta.enableExpiredLogCleanup is false")
	}
	// 31 days later: versions before the newest old-enough checkpoint (20) go.
	n, err := CleanupLog(ctx, st, nil, time.Now().Add(31*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 21 { // commits 0..19 and checkpoint 10
		t.Fatalf("deleted %d log files, want 21", n)
	}
	if _, err := st.Get(ctx, CommitKey(19)); err == nil {
		t.Fatal("commit 19 kept")
	}
	snap, err := LoadSnapshot(ctx, st)
	if err != nil || snap.Version != 25 || len(snap.Files) != 25 || snap.CheckpointVersion != 20 {
		t.Fatalf("after cleanup: %+v, %v", snap, err)
	}
}

// TestUpdateAfterLogCleanup: a writer idle while another one committed,
// checkpointed and cleaned the log must not commit at a version that was
// deleted (no reader would see it); it reloads from the checkpoint.
func TestUpdateAfterLogCleanup(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	idle := newTestWriter(t, st, TableConfig{Schema: s}, clock) // at version 0
	busy := newTestWriter(t, st, TableConfig{Schema: s}, clock)
	for v := 1; v <= 12; v++ {
		if _, err := busy.Append(ctx, []Record{ridesRecord(t, s, "B", v, int64(v), "", 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := CleanupLog(ctx, st, nil, time.Now().Add(40*24*time.Hour)); err != nil || n == 0 {
		t.Fatalf("cleanup: %d, %v", n, err)
	}
	res, err := idle.Append(ctx, []Record{ridesRecord(t, s, "IDLE", 1, 100, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 13 {
		t.Fatalf("idle writer committed version %d, want 13 (after the busy writer's 12)", res.Version)
	}
	rows, _ := ReadAllRows(ctx, st)
	if len(rows) != 13 {
		t.Fatalf("%d rows visible, want 13", len(rows))
	}
}

// TestReadForeignTimestampEncodings: files written by other engines may hold
// timestamps as INT96 (Spark's default) or INT64 millis/nanos.
func TestReadForeignTimestampEncodings(t *testing.T) {
	ctx := context.Background()
	want := time.Date(2026, 1, 1, 0, 5, 0, 123456000, time.UTC)
	type i96 struct {
		TS deprecated.Int96 `parquet:"ts"`
	}
	type ms struct {
		TS int64 `parquet:"ts,timestamp(millisecond)"`
	}
	type ns struct {
		TS int64 `parquet:"ts,timestamp(nanosecond)"`
	}
	days := want.Unix()/86400 + 2440588
	nod := want.Sub(time.Unix(want.Unix()/86400*86400, 0)).Nanoseconds()
	files := map[string]func() []byte{
		"int96": func() []byte {
			return encode(t, []i96{{deprecated.Int96{uint32(nod), uint32(nod >> 32), uint32(days)}}})
		},
		"millis": func() []byte { return encode(t, []ms{{want.UnixMilli()}}) },
		"nanos":  func() []byte { return encode(t, []ns{{want.UnixNano()}}) },
	}
	for name, mk := range files {
		st := memStore(t)
		_ = st.Put(ctx, "f.parquet", mk())
		s := &Snapshot{Schema: Schema{Fields: []Field{{Name: "ts", Type: Type{Name: "timestamp"}, Nullable: true}}}}
		rows, err := s.ReadFile(ctx, st, Add{Path: "f.parquet"})
		if err != nil || len(rows) != 1 {
			t.Fatalf("%s: %v", name, err)
		}
		got := rows[0]["ts"].(time.Time)
		exact := want
		if name == "millis" {
			exact = want.Truncate(time.Millisecond)
		}
		if !got.Equal(exact) {
			t.Errorf("%s: read %v, want %v", name, got, exact)
		}
	}
}

func encode[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
