package deltalake

import (
	"context"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

func newStateEmission(seq int, cities ...string) service.MessageBatch {
	b := emission(seq, cities...)
	for _, m := range b {
		m.MetaSetMut(metaNewState, true)
	}
	return b
}

// Rows of a window state that started empty (its checkpoint lost) carry
// sequences that start again at 1: where the table already holds the appId's
// sequences from an earlier process, they are refused, not skipped as
// written; beyond them, and on a table without them, they are written.
func TestRowsOfANewStateBelowTheTablesSequenceAreRefused(t *testing.T) {
	dir := t.TempDir()
	out := `
delta_lake:
  path: ` + dir + schemaYAML + `
  idempotency: { mode: sequence, app_id: rides_agg }
`
	send, stop := runStream(t, out)
	for seq := 1; seq <= 3; seq++ {
		if err := send(newStateEmission(seq, "PARIS")); err != nil {
			t.Fatalf("a new state on an empty table: %v", err)
		}
	}
	stop()

	send, stop = runStream(t, out) // a restart whose window found no checkpoint
	defer stop()
	err := send(newStateEmission(1, "LYON"))
	if err == nil || !strings.Contains(err.Error(), "lost or reset") || !strings.Contains(err.Error(), `"rides_agg"`) {
		t.Fatalf("sequence 1 of a new state over a table at 3: %v, want a refusal naming the app_id", err)
	}
	if err := send(emission(2, "PARIS")); err != nil {
		t.Fatalf("a re-emission of a restored state is skipped as before: %v", err)
	}
	if err := send(newStateEmission(4, "NICE")); err != nil {
		t.Fatalf("sequence 4 of a new state over a table at 3: %v", err)
	}
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	cities := map[string]int{}
	for _, r := range rows {
		cities[r["city"].(string)]++
	}
	if cities["PARIS"] != 3 || cities["LYON"] != 0 || cities["NICE"] != 1 {
		t.Fatalf("rows per city %v, want PARIS 3 (seqs 1-3 once), LYON 0 (refused), NICE 1", cities)
	}
}
