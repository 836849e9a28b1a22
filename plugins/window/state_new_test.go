package window

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// newStateFlags runs a closing batch through p and returns, per emitted
// row, whether it carries window_state_new.
func newStateFlags(t *testing.T, p *processor, off int) []bool {
	t.Helper()
	out, err := p.ProcessBatch(context.Background(), service.MessageBatch{
		msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, off),
		msg("FR", "2026-03-14T00:21:00Z", 1, 1, 0, off+1),
	})
	if err != nil {
		t.Fatal(err)
	}
	var flags []bool
	for _, b := range out {
		for _, m := range b {
			v, ok := m.MetaGetMut("window_state_new")
			flags = append(flags, ok && v == true)
		}
	}
	return flags
}

// Rows emitted by a state that started empty (no checkpoint found) carry
// window_state_new, for delta_lake to refuse them over a table that holds the
// app_id's sequences already; rows of a restored state do not.
func TestRowsOfAStateThatStartedEmptyAreMarked(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	flags := newStateFlags(t, p, 0)
	if len(flags) != 1 || !flags[0] {
		t.Fatalf("first state's emission flags %v, want [true]", flags)
	}
	restored := build(t, ridesYAML, res, newClock())
	flags = newStateFlags(t, restored, 10)
	if len(flags) != 1 || flags[0] {
		t.Fatalf("restored state's emission flags %v, want [false]", flags)
	}
}
