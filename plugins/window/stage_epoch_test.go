package window

import (
	"context"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Stage partial reads a partition's assignment epoch at the ends of each run
// of its rows in a batch. A batch in which a partition's epoch changes,
// inside a run or between two runs, still fails whole (its state would be
// the wrong one for part of it); one whose runs agree loads each partition
// once, at its epoch.
func TestStagePartialRefusesABatchSpanningAnEpochChange(t *testing.T) {
	heartbeat := func() *service.Message {
		m := service.NewMessage(nil)
		m.MetaSetMut(heartbeatMeta, true)
		return m
	}
	ride := func(part, off, epoch int) *service.Message {
		return stageMsg("2026-03-14T00:30:00Z", part, off, epoch)
	}
	for name, batch := range map[string]service.MessageBatch{
		"change at the last row":   {ride(0, 0, 1), ride(0, 1, 1), ride(0, 2, 2)},
		"change at the first row":  {ride(0, 0, 1), ride(0, 1, 2), ride(0, 2, 2)},
		"change between runs":      {ride(0, 0, 1), ride(1, 0, 1), ride(0, 1, 2)},
		"change after a heartbeat": {ride(0, 0, 1), heartbeat(), ride(0, 1, 2)},
	} {
		t.Run(name, func(t *testing.T) {
			res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
			p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
			if err != nil {
				t.Fatal(err)
			}
			reads := 0
			read := p.readState
			p.readState = func(ctx context.Context, key string) ([]byte, error) { reads++; return read(ctx, key) }
			_, err = p.ProcessBatch(context.Background(), batch)
			if err == nil || !strings.Contains(err.Error(), "two values of "+epochMeta) {
				t.Fatalf("got %v, want the batch refused for two epochs of partition 0", err)
			}
			if reads != 0 || len(p.epochs) != 0 {
				t.Fatalf("a refused batch loaded state: %d reads, epochs %v", reads, p.epochs)
			}
		})
	}

	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	read := p.readState
	p.readState = func(ctx context.Context, key string) ([]byte, error) { keys = append(keys, key); return read(ctx, key) }
	got, _ := kinds(t, processStage(t, p, ride(0, 0, 3), ride(0, 1, 3), ride(1, 0, 4), heartbeat(), ride(0, 2, 3), ride(1, 1, 4)))
	if strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 0,marker q=0,marker q=1,changelog 1" {
		t.Fatalf("stage 1 emitted %v", got)
	}
	if len(keys) != 2 || p.epochs["rides/0"] != 3 || p.epochs["rides/1"] != 4 {
		t.Fatalf("state reads %v, epochs %v: want partitions 0 and 1 loaded once, at epochs 3 and 4", keys, p.epochs)
	}
}
