package window

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Stage 1's progress of a source partition lives only in its changelog copy,
// committed in the Kafka transaction that commits the partition's offsets.
// Every batch that commits offsets of a partition therefore writes a copy
// (coverDeadLetters: a batch of dead letters only too), and a partition the
// group committed as progress has one. None means the changelog lost it (a
// topic deleted and made again, a cache pointed elsewhere): going on would
// judge the partition's next rows against no progress, so rows its lost
// progress held late would be counted (docs/scale-out.md, "Changelog").
// The partition is held instead, as stage local holds a missing state,
// unless another partition has progress (anotherWithProgress): a partition
// whose every record a filter before the window dropped has none either.

// coverDeadLetters moves the progress of each partition of the batch past
// its dead letters (engine Cover), whose offsets the input commits with the
// batch: a marker of the partition in res carries the new offset; a
// partition with none (only dead letters, or rows replayed) gets a
// changelog copy alone, returned. Stage 2 learns nothing new from either.
func (p *partialProcessor) coverDeadLetters(batch service.MessageBatch, out []*service.Message, res *engine.PartialResult) []engine.Marker {
	var moved []engine.Position // in batch order, once each
	for i, m := range out {
		if m == nil {
			continue
		}
		pos, ok := position(batch[i])
		if !ok {
			continue
		}
		parts, _ := metaInt(batch[i], partitionsMeta)
		if _, ch := p.eng.Cover(pos.Topic, pos.Partition, int32(parts), pos.Offset); ch && !slices.ContainsFunc(moved, func(q engine.Position) bool {
			return q.Topic == pos.Topic && q.Partition == pos.Partition
		}) {
			moved = append(moved, pos)
		}
	}
	var covered []engine.Marker
	for _, pos := range moved {
		m, _ := p.eng.Source(pos.Topic, pos.Partition)
		copied := false // an idle marker gets no changelog copy (stageOneBatch)
		for i := range res.Markers {
			if mk := &res.Markers[i]; mk.Topic == m.Topic && mk.Partition == m.Partition {
				mk.Offset, copied = m.Offset, !mk.Idle
			}
		}
		if !copied {
			m.Idle = false // a reload starts non-idle, as after any own batch
			covered = append(covered, m)
		}
	}
	return covered
}

// awaitLostProgress is called for a partition whose changelog holds no
// progress. From a group that committed none, or only start_offset's start
// commit, that is a new partition: nil. From a progress commit the progress
// was lost: it holds the batch (nothing applied, written or committed),
// logging why at ERROR every 30 s and reading the changelog again, until a
// state is there or ctx ends; with state.on_lost: resume it goes on with
// none, warning.
func (p *partialProcessor) awaitLostProgress(ctx context.Context, pos engine.Position, m *service.Message) (*engine.Marker, error) {
	kind, ok := metaString(m, commitMeta)
	if !ok && !p.commitWarned {
		p.commitWarned = true
		p.log.Warnf("tumbling_window: the input does not set %s (list it in kafka_franz metadata_keys): a lost stage 1 progress cannot be told from a new partition", commitMeta)
	}
	if kind != commitProgress {
		return nil, nil
	}
	if q, ok := p.anotherWithProgress(ctx, pos, m); ok {
		p.log.Warnf("tumbling_window: %s/%d has no progress in state.cache %q although the group committed it and partition %d has some: none of its records reached the window (a processor before it dropped them all); it starts with none", pos.Topic, pos.Partition, p.conf.cache, q)
		return nil, nil
	}
	start, _ := metaInt(m, startMeta)
	lost := fmt.Errorf("state.cache %q has no progress of %s/%d, but the group committed it up to offset %d: the changelog lost it, and rows it held late would be counted. "+
		"Restore the changelog topic; or reset the group's offsets (and the table); or set state.on_lost: resume for one run to go on without it (docs/scale-out.md, \"Changelog\")",
		p.conf.cache, pos.Topic, pos.Partition, start)
	if p.conf.onLost == onLostResume {
		p.log.Warnf("tumbling_window: %v; going on from the committed offset (state.on_lost: resume)", lost)
		return nil, nil
	}
	p.lostHeld++
	p.m.lostHeld.Set(p.lostHeld)
	p.m.lostHeldBatches.Incr(1)
	defer func() {
		p.lostHeld--
		p.m.lostHeld.Set(p.lostHeld)
	}()
	for {
		if ok, n := p.holdLogs.Note(time.Now(), 30*time.Second); ok {
			p.log.Errorf("tumbling_window: holding %s/%d: %v; reading it again (%d holds since the last such line)", pos.Topic, pos.Partition, lost, n)
		}
		if err := p.holdPause(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", lost, err)
		}
		data, _, err := p.getKeyRetrying(ctx, strconv.Itoa(int(pos.Partition)))
		if err != nil {
			return nil, err
		}
		if data != nil {
			mk, err := engine.DecodeMarker(data)
			if err != nil {
				return nil, fmt.Errorf("state.cache %q key %d: %w", p.conf.cache, pos.Partition, err)
			}
			return mk, nil
		}
	}
}

// anotherWithProgress returns a partition of pos's topic, other than pos's,
// that has progress in the changelog. A changelog that lost its progress
// lost it for every partition (a topic deleted or made again: compaction
// keeps each key's latest record); one that holds some partitions' but not
// pos's never had pos's, whose every record was dropped before the window
// (a filter), so nothing of it was lost. Read only on the way to a hold.
func (p *partialProcessor) anotherWithProgress(ctx context.Context, pos engine.Position, m *service.Message) (int32, bool) {
	n, _ := metaInt(m, partitionsMeta)
	for q := int32(0); q < int32(n); q++ {
		if q == pos.Partition {
			continue
		}
		if data, _, err := p.getKeyRetrying(ctx, strconv.Itoa(int(q))); err == nil && data != nil {
			return q, true
		}
	}
	return 0, false
}
