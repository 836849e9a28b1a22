// Package testproc registers Benthos processors that tests use to steer a
// stream. Only tests import it: the product binary never registers them.
package testproc

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// HoldName is the processor (`test_hold_second: {}`) that holds the second
// batch it sees until its gate is released: a transaction holding the first
// batch's records stays open meanwhile.
const HoldName = "test_hold_second"

// HoldGate is the gate of the stream built after NewHoldGate.
type HoldGate struct {
	mu      sync.Mutex
	batches int
	release chan struct{}
	once    sync.Once
}

var current atomic.Pointer[HoldGate]

func init() {
	err := service.RegisterBatchProcessor(HoldName, service.NewConfigSpec().Field(service.NewObjectField("")),
		func(*service.ParsedConfig, *service.Resources) (service.BatchProcessor, error) {
			return current.Load(), nil
		})
	if err != nil {
		panic(err)
	}
}

// NewHoldGate makes the gate the next stream built gets (one such stream at a time).
func NewHoldGate() *HoldGate {
	g := &HoldGate{release: make(chan struct{})}
	current.Store(g)
	return g
}

// Release lets the held batch, and every later one, through.
func (g *HoldGate) Release() { g.once.Do(func() { close(g.release) }) }

// ProcessBatch holds the second batch until Release or the stream stops.
func (g *HoldGate) ProcessBatch(ctx context.Context, b service.MessageBatch) ([]service.MessageBatch, error) {
	g.mu.Lock()
	g.batches++
	n := g.batches
	g.mu.Unlock()
	if n == 2 {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []service.MessageBatch{b}, nil
}

// Close does nothing: the gate belongs to the test.
func (*HoldGate) Close(context.Context) error { return nil }
