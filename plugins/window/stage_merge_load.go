package window

import (
	"context"
	"errors"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// loadMoved (re)loads every q of the batch that is new to this process or
// at a new assignment epoch, and reports which. The reads run concurrently:
// a q whose changelog state is behind waits for it (readCaughtUp) without
// holding up the others, so a replica taking over several internal
// partitions waits once, not once per q. Each q's engine comes from its
// own state only, so the result does not depend on the order the reads end.
func (p *mergeProcessor) loadMoved(ctx context.Context, batch service.MessageBatch, qs []int32, epochs map[int32]int64, in map[int32][]engine.MergeInput) (map[int32]bool, error) {
	var todo []int32
	for _, q := range qs {
		if mp := p.parts[q]; mp == nil || mp.epoch != epochs[q] {
			todo = append(todo, q)
		}
	}
	got := make([]*mergePartition, len(todo))
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, q := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := in[q][0].Pos.Key()
			got[i], errs[i] = p.loadPartition(ctx, q, epochs[q], k, stateMustReach(batch, k))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	loaded := make(map[int32]bool, len(todo))
	for i, q := range todo {
		p.parts[q] = got[i]
		loaded[q] = true
	}
	return loaded, nil
}
