package engine

import (
	"strconv"
	"strings"
	"time"
)

// Holdback names the source partition that sets a per_partition watermark:
// the one, of those not idle, with the lowest max event time. It is what an
// operator looks at when windows stop closing (docs/scale-out.md,
// "Operating").
type Holdback struct {
	Topic     string
	Partition int32
	// MaxMs is its max event time, epoch ms; Reported is false while it has
	// delivered nothing (it then holds the watermark unset).
	MaxMs    int64
	Reported bool
	// LeadMs is the highest max event time of any source partition: LeadMs −
	// MaxMs is how far the holding partition is behind the most advanced one.
	LeadMs int64
}

// Holdback returns the partition holding the watermark back at processing
// time now, and false when there is none (no partition known, every one
// idle, or mode global). Ties go to the lowest (topic, partition), so the
// answer does not depend on map order.
func (e *Engine) Holdback(now time.Time) (Holdback, bool) {
	if e.cfg.Mode != ModePerPartition {
		return Holdback{}, false
	}
	nowMs, idleMs := msOf(now), e.cfg.IdleTimeout.Milliseconds()
	var h Holdback
	found, lead := false, int64(noWatermark)
	for k, p := range e.wm.Parts {
		lead = max(lead, p.MaxMs)
		if p.passive(idleMs, nowMs) {
			continue
		}
		topic, part := splitKey(k)
		if found && (p.MaxMs > h.MaxMs || (p.MaxMs == h.MaxMs && (topic > h.Topic || (topic == h.Topic && part > h.Partition)))) {
			continue
		}
		h, found = Holdback{Topic: topic, Partition: part, MaxMs: p.MaxMs}, true
	}
	if !found {
		return Holdback{}, false
	}
	h.Reported = h.MaxMs != noWatermark
	if !h.Reported {
		h.MaxMs = 0
	}
	if lead != noWatermark {
		h.LeadMs = lead
	}
	return h, true
}

// splitKey inverts Position.Key ("topic/partition").
func splitKey(k string) (string, int32) {
	i := strings.LastIndexByte(k, '/')
	p, _ := strconv.Atoi(k[i+1:])
	return k[:i], int32(p)
}
