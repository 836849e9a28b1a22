package window

import (
	"context"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// The rides the window consumes (not passed on) lose their content once the
// batch is processed, so the parsed rides do not stay alive while Benthos
// holds the input batch for its ack; what goes on keeps its content, and so
// do the emitted rows made from the batch's first ride.
func TestConsumedRidesReleaseTheirContent(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	bad := service.NewMessage([]byte(`{"city":"FR","price":1,"distanceKm":1,"ts":"yesterday"}`))
	batch := service.MessageBatch{
		msg("FR", "2026-03-14T00:01:00Z", 10, 5, 0, 0),
		bad,
		msg("DE", "2026-03-14T00:16:00Z", 1, 1, 0, 1),
	}
	for _, m := range batch {
		_, _ = m.AsStructured() // parsed, as from_json leaves a ride
	}
	rows, errored := run(t, p, batch)
	if len(rows) != 1 || rows[0].body["city"] != "FR" || rows[0].body["revenue"] != 10.0 || len(errored) != 1 {
		t.Fatalf("rows %v, errored %d: want FR's window and the bad ride", rows, len(errored))
	}
	for _, i := range []int{0, 2} {
		if b, _ := batch[i].AsBytes(); len(b) != 0 || batch[i].HasStructured() {
			t.Errorf("consumed ride %d still holds its content %s", i, b)
		}
	}
	for name, m := range map[string]*service.Message{"dead letter": errored[0], "its input message": bad} {
		if b, _ := m.AsBytes(); !strings.Contains(string(b), "yesterday") {
			t.Errorf("%s lost its content: %q", name, b)
		}
	}
}

// A batch that fails is passed on whole by Benthos, errored: nothing of it
// is released.
func TestAFailedBatchKeepsItsContent(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := msg("FR", "2026-03-14T00:01:00Z", 10, 5, 0, 0)
	if _, err := p.ProcessBatch(context.Background(), service.MessageBatch{m}); err == nil {
		t.Fatal("a closed processor took a batch")
	}
	if b, _ := m.AsBytes(); !strings.Contains(string(b), `"FR"`) {
		t.Errorf("the failed batch's ride lost its content: %q", b)
	}
}
