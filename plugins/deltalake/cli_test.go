package deltalake

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

func TestShowTable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	for seq := 1; seq <= 2; seq++ {
		if err := o.WriteBatch(ctx, emission(seq, "PARIS", "ANTANANARIVO")); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := objstore.NewLocal(dir)
	var out bytes.Buffer
	if err := showTable(ctx, &out, st, 10, 100, "cnt"); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"version 2  protocol (1,2)", "txn rides = 2", "STREAMING UPDATE", "CREATE TABLE", "rows (4):", "ANTANANARIVO"} {
		if !strings.Contains(s, want) {
			t.Errorf("show output lacks %q:\n%s", want, s)
		}
	}
	// Rows sorted numerically by cnt: 100, 101, 200, 201.
	if !strings.Contains(s, "cnt") || strings.Index(s, " 100\n") > strings.Index(s, " 201\n") {
		t.Fatalf("rows not sorted by cnt:\n%s", s)
	}
}

func TestOptimizePartitionFilterFlags(t *testing.T) {
	now := time.Date(2026, 3, 15, 0, 30, 0, 0, time.FixedZone("x", 3*3600)) // 2026-03-14 21:30 UTC
	f, err := partitionFilter([]string{"event_date=2026-03-01", "city=FR"}, []string{"event_date=1", "event_date=0"}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"event_date": {"2026-03-01", "2026-03-13", "2026-03-14"}, "city": {"FR"}}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("filter %v, want %v (days are UTC days)", f, want)
	}
	for _, bad := range [][2][]string{{{"event_date"}, nil}, {nil, {"event_date=-1"}}, {nil, {"event_date=yesterday"}}} {
		if _, err := partitionFilter(bad[0], bad[1], now); err == nil {
			t.Errorf("partitionFilter(%v, %v) accepted", bad[0], bad[1])
		}
	}
}
