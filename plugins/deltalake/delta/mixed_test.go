package delta

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// TestContinueForeignTable: $DELTA_FOREIGN_DIR holds a table another writer
// (delta-rs: append, optimize, checkpoint) has modified; our reader must load
// it from that checkpoint and our writer must keep committing. The interop
// tier (tests/interop) prepares such tables; without the variable this skips.
func TestContinueForeignTable(t *testing.T) {
	dir := os.Getenv("DELTA_FOREIGN_DIR")
	if dir == "" {
		t.Skip("set DELTA_FOREIGN_DIR to a table modified by another Delta writer")
	}
	ctx := context.Background()
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	before, err := LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := before.ReadRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded version %d from checkpoint %d: %d files, %d rows", before.Version, before.CheckpointVersion, len(before.Files), len(rows))
	tbl, err := CreateOrOpen(ctx, st, TableConfig{Schema: before.Schema, PartitionColumns: before.Metadata.PartitionColumns}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(tbl, WriterOptions{})
	rec := ridesRecord(t, before.Schema, "AFTER", 1, 999, "app", before.TxnVersion("app")+1)
	rec.Row = append(rec.Row, make(Row, len(before.Schema.Fields)-len(rec.Row))...)
	res, err := w.Append(ctx, []Record{rec})
	if err != nil {
		t.Fatal(err)
	}
	after, err := ReadAllRows(ctx, st)
	if err != nil || len(after) != len(rows)+1 || res.Version != before.Version+1 {
		t.Fatalf("after our append: version %d, %d rows (was %d), %v", res.Version, len(after), len(rows), err)
	}
}
