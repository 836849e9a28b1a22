package window

import (
	"maps"
	"sync"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// ackedOffsets is, per input partition, the offset below which every
// record is acknowledged, as the kafka_franz consumers report it after each
// flush of the commit barrier (state.sync: commit). A record is
// acknowledged only once the rows it emitted are delivered, so a retained
// emission of such records can be forgotten (engine.ForgetDelivered)
// instead of being kept, and checkpointed, until retain_emissions newer
// ones push it out: with many keys an emission is megabytes.
type ackedOffsets struct {
	mu      sync.Mutex
	next    map[string]int64
	changed bool
}

// record is the commitbarrier.OnAcked listener.
func (a *ackedOffsets) record(topic string, partition int32, next int64) {
	k := engine.Position{Topic: topic, Partition: partition}.Key()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == nil {
		a.next = map[string]int64{}
	}
	if next > a.next[k] {
		a.next[k], a.changed = next, true
	}
}

// take returns the offsets if they moved since the last take.
func (a *ackedOffsets) take() (map[string]int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.changed {
		return nil, false
	}
	a.changed = false
	return maps.Clone(a.next), true
}

// forgetDelivered (mu held) drops the retained emissions delivered since
// the last state write.
func (p *processor) forgetDelivered() {
	if acked, ok := p.acked.take(); ok && p.eng != nil {
		p.eng.ForgetDelivered(acked)
	}
}
