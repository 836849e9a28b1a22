package deltalake

import (
	"context"
	"fmt"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// A scaled-out window numbers its emissions per internal partition q; the
// output commits each q under its own appId (app_id interpolated per
// message), so sequences of different q do not interfere, and a paused
// replica (a zombie) that wakes up and commits a (q, seq) another replica
// already wrote is skipped.

const perPartitionOutput = `
delta_lake:
  path: %s` + schemaYAML + `
  idempotency: { mode: sequence, app_id: 'rides_agg-${! @window_state_partition.not_null() }' }
`

func emissionOf(q, seq int, cities ...string) service.MessageBatch {
	b := emission(seq, cities...)
	for _, m := range b {
		m.MetaSetMut("window_state_partition", q)
		m.SetBytes([]byte(fmt.Sprintf(`{"city":%q,"win_start":"q%d","revenue":%d.5,"cnt":%d}`, cityOf(m), q, seq, q*1000+seq)))
	}
	return b
}

func TestAppIDPerPartitionFencesAZombieAndKeepsPartitionsApart(t *testing.T) {
	dir := t.TempDir()
	// Both replicas connect (open the table) before either writes: the
	// zombie's view of the table is as old as can be.
	sendA, stopA := runStream(t, fmt.Sprintf(perPartitionOutput, dir))
	sendZ, stopZ := runStream(t, fmt.Sprintf(perPartitionOutput, dir))
	defer stopZ()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sendZ(emissionOf(0, 1, "PARIS")))         // the zombie's last commit before it paused
	must(sendA(emissionOf(0, 1, "PARIS")))         // the new owner re-emits seq 1: skipped
	must(sendA(emissionOf(0, 2, "PARIS", "LYON"))) // and goes on
	must(sendA(emissionOf(1, 1, "NICE")))          // another q: its own sequence 1
	must(sendA(emissionOf(1, 2, "NICE")))
	must(sendZ(emissionOf(0, 2, "PARIS", "LYON"))) // the zombie wakes up: refused as already applied
	must(sendZ(emissionOf(1, 2, "NICE")))
	must(sendZ(emissionOf(0, 3, "LYON"))) // a new sequence is written once, by whoever is first
	must(sendA(emissionOf(0, 3, "LYON")))
	stopA()

	ctx := context.Background()
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(ctx, st)
	must(err)
	seen := map[string]int{}
	for _, r := range rows {
		seen[fmt.Sprint(r["win_start"], " ", r["cnt"], " ", r["city"])]++
	}
	want := map[string]int{
		"q0 1 PARIS": 1, "q0 2 PARIS": 1, "q0 2 LYON": 1, "q0 3 LYON": 1,
		"q1 1001 NICE": 1, "q1 1002 NICE": 1,
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("table rows (window, cnt, city) → times written:\n got %v\nwant %v", seen, want)
	}
	snap, err := delta.LoadSnapshot(ctx, st)
	must(err)
	if a, b := snap.TxnVersion("rides_agg-0"), snap.TxnVersion("rides_agg-1"); a != 3 || b != 2 {
		t.Fatalf("txn versions rides_agg-0=%d rides_agg-1=%d, want 3 and 2", a, b)
	}
}

func TestAppIDInterpolatingToNothingIsAnInvalidRow(t *testing.T) {
	dir := t.TempDir()
	send, stop := runStream(t, fmt.Sprintf(perPartitionOutput, dir))
	defer stop()
	if err := send(emission(1, "PARIS")); err != nil { // no window_state_partition
		t.Fatal(err)
	}
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		t.Fatalf("a row without its appId was written: %v", rows)
	}
}

func cityOf(m *service.Message) string {
	v, _ := m.AsStructured()
	return v.(map[string]any)["city"].(string)
}
