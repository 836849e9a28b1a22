package delta

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// TestWriteSampleTable writes a 12-commit table (with a checkpoint at 10)
// into $DELTA_SAMPLE_DIR for manual checks with independent readers.
func TestWriteSampleTable(t *testing.T) {
	dir := os.Getenv("DELTA_SAMPLE_DIR")
	if dir == "" {
		t.Skip("set DELTA_SAMPLE_DIR to write a sample table for external readers")
	}
	ctx := context.Background()
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	s.Fields = append(s.Fields, Field{Name: "day", Type: Type{Name: "date"}, Nullable: true},
		Field{Name: "amount", Type: Type{Name: "decimal", Precision: 12, Scale: 2}, Nullable: true})
	w := newTestWriter(t, st, TableConfig{Schema: s, PartitionColumns: []string{"day"}}, clock)
	for v := int64(1); v <= 12; v++ {
		r1 := ridesRecord(t, s, "PARIS", int(v), v, "app", v)
		r2 := ridesRecord(t, s, "a%b:c d/é", int(v), v+100, "app", v)
		r1.Row[6], r2.Row[6] = int32(20454), nil
		r1.Row[7], _ = ConvertValue(s.Fields[7].Type, "12.34")
		if _, err := w.Append(ctx, []Record{r1, r2}); err != nil {
			t.Fatal(err)
		}
	}
}
