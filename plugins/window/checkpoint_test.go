package window

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// A store that fails holds the batch (back-pressure) and retries; the batch
// is released only once its state is durable.
func TestCheckpointFailureIsRetriedBeforeTheBatchIsReleased(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	real := p.store
	fails := 3
	p.store = func(ctx context.Context, data []byte) error {
		if fails > 0 {
			fails--
			return errors.New("store unavailable")
		}
		return real(ctx, data)
	}
	if _, err := p.ProcessBatch(context.Background(), service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if fails != 0 {
		t.Fatalf("released after %d failed attempts left", fails)
	}
	// The durable state has the row: a restarted processor sees it as applied.
	p2 := build(t, ridesYAML, res, newClock())
	if _, err := p2.ProcessBatch(context.Background(), service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if p2.eng.OpenGroups() != 1 {
		t.Fatalf("open groups %d after restart", p2.eng.OpenGroups())
	}
}

// When the store stays down until shutdown, the batch fails and the memory
// state is rolled back to the durable one, so a redelivery is applied again.
func TestCheckpointGivenUpRollsBackTheState(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)})
	real := p.store
	p.store = func(context.Context, []byte) error { return errors.New("store unavailable") }
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.ProcessBatch(ctx, service.MessageBatch{msg("US", "2026-03-14T00:02:00Z", 1, 1, 0, 1)}); err == nil {
		t.Fatal("batch released without a durable checkpoint")
	}
	if p.eng.OpenGroups() != 1 {
		t.Fatalf("state not rolled back: %d open groups", p.eng.OpenGroups())
	}
	p.store = real
	run(t, p, service.MessageBatch{msg("US", "2026-03-14T00:02:00Z", 1, 1, 0, 1)})
	if p.eng.OpenGroups() != 2 {
		t.Fatalf("redelivered row not applied after rollback: %d open groups", p.eng.OpenGroups())
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	p := build(t, ridesYAML, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
	for i := 0; i < 2; i++ {
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.ProcessBatch(context.Background(), service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)}); err == nil {
		t.Fatal("processed after Close")
	}
}
