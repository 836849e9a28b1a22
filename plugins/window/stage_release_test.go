package window

import (
	"context"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Stage partial, as stage full: the rides folded into partials lose their
// content once the batch is through; what goes on (a dead letter, the
// partials and markers derived from the batch's first ride) keeps its own,
// and a released ride keeps its metadata (a nack names messages by it).
func TestStagePartialReleasesTheRidesItFolds(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	bad := stageMsg("yesterday", 0, 1, 1)
	batch := service.MessageBatch{stageMsg("2026-03-14T00:30:00Z", 0, 0, 1), bad, stageMsg("2026-03-14T00:31:00Z", 0, 2, 1)}
	for _, m := range batch {
		_, _ = m.AsStructured() // parsed, as parse_ride leaves a ride
	}
	got, markers := kinds(t, processStage(t, p, batch...))
	if strings.Join(got, ",") != "errored,partial,marker q=0,marker q=1,changelog 0" || markers[0].Offset != 2 {
		t.Fatalf("stage 1 emitted %v %+v", got, markers)
	}
	for _, i := range []int{0, 2} {
		if b, _ := batch[i].AsBytes(); len(b) != 0 || batch[i].HasStructured() {
			t.Errorf("folded ride %d still holds its content %s", i, b)
		}
		if off, ok := metaInt(batch[i], "kafka_offset"); !ok || off != int64(i) {
			t.Errorf("folded ride %d lost its metadata: kafka_offset %d %v", i, off, ok)
		}
	}
	if b, _ := bad.AsBytes(); !strings.Contains(string(b), "yesterday") {
		t.Errorf("the dead letter's input message lost its content: %q", b)
	}
}

// A batch that fails after extraction (here: two epochs of one partition)
// is passed on whole by Benthos, errored: nothing of it is released.
func TestStagePartialFailedBatchKeepsItsContent(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	batch := service.MessageBatch{stageMsg("2026-03-14T00:30:00Z", 0, 0, 1), stageMsg("2026-03-14T00:31:00Z", 0, 1, 2)}
	if _, err := p.ProcessBatch(context.Background(), batch); err == nil {
		t.Fatal("a batch with two epochs of partition 0 went through")
	}
	for i, m := range batch {
		if b, _ := m.AsBytes(); !strings.Contains(string(b), `"FR"`) {
			t.Errorf("ride %d of the failed batch lost its content: %q", i, b)
		}
	}
}
