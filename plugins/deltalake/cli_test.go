package deltalake

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
