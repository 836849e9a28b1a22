package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// stateVersion is the JSON layout (version 1), read but no longer written:
// Snapshot writes the binary version 3 (statebin.go).
const stateVersion = 1

// snapshot is the checkpointed state: bounded by open windows × keys plus the
// retained emissions, never by the number of events.
type snapshot struct {
	Version   int                       `json:"version"`
	Shape     shape                     `json:"shape"`
	Watermark watermark                 `json:"watermark"`
	Seq       int64                     `json:"seq"`
	Windows   []windowState             `json:"windows"`
	Applied   map[string]appliedOffsets `json:"applied"`
	Pending   []*Emission               `json:"pending"`
	// Local is stage merge's progress of a local stage 1 (local_merge.go).
	Local map[string]*localSource `json:"local,omitempty"`
	// Covers is, per partition, the input's commit the state covers
	// (binary version 3; covers.go).
	Covers map[string]int64 `json:"-"`
}

// shape is the part of the config the state depends on; restoring state into
// a different shape would mix incompatible partial aggregates.
type shape struct {
	SizeUs   int64     `json:"size_us"`
	OffsetUs int64     `json:"offset_us"`
	Groups   []string  `json:"group_by"`
	Aggs     []AggSpec `json:"aggregates"`
}

type windowState struct {
	StartUs int64             `json:"start_us"`
	Groups  map[string]*group `json:"groups"`
}

func (e *Engine) shape() shape {
	return shape{SizeUs: e.sizeUs, OffsetUs: e.offsetUs, Groups: e.cfg.GroupNames, Aggs: e.cfg.Aggregates}
}

// shapeJSON is the shape as a checkpoint records it (computed once).
func (e *Engine) shapeJSON() []byte {
	if e.shapeJS == nil {
		e.shapeJS, _ = json.Marshal(e.shape())
	}
	return e.shapeJS
}

// Snapshot serialises the whole state, binary: version 3 for stage full,
// version 4 (3 and its local stage-1 sources) for stage merge, whose state
// also travels as a message of its changelog topic. Restore reads these and
// the JSON version 1 of earlier builds. Equal states give equal bytes.
func (e *Engine) Snapshot() ([]byte, error) {
	data, err := e.snapshotBinary(e.lastSnapshot)
	e.lastSnapshot = len(data)
	return data, err
}

// Restore replaces the state with a snapshot. The retained emissions are
// re-emitted by the next Process call, since whether they were delivered
// before the restart is unknown; the sink drops the duplicates by Seq.
func (e *Engine) Restore(data []byte) error {
	s, err := decodeState(data)
	if err != nil {
		return fmt.Errorf("checkpoint is not a window state: %w", err)
	}
	if s.Version != stateVersion && s.Version != stateVersionBinaryV2 && s.Version != stateVersionBinary && s.Version != stateVersionBinaryLocal {
		return fmt.Errorf("checkpoint has state version %d, this build reads %d, %d, %d and %d", s.Version, stateVersion, stateVersionBinaryV2, stateVersionBinary, stateVersionBinaryLocal)
	}
	if err := sameShape(s.Shape, e.shape()); err != nil {
		return err
	}
	if err := s.check(len(e.cfg.Aggregates)); err != nil {
		return fmt.Errorf("checkpoint is corrupt: %w", err)
	}
	e.wm, e.seq, e.pending = s.Watermark, s.Seq, s.Pending
	e.pendingBin, e.pendingEnc, e.openEnc = nil, make([][]byte, len(e.pending)), nil
	e.applied, e.local, e.covers = s.Applied, s.Local, s.Covers
	if e.applied == nil {
		e.applied = map[string]appliedOffsets{}
	}
	if e.covers == nil {
		e.covers = map[string]int64{}
	}
	e.open, e.nOpen = map[int64]map[string]*group{}, 0
	for _, w := range s.Windows {
		for _, g := range w.Groups {
			for j := range g.Aggs {
				g.Aggs[j].foldLegacy()
			}
		}
		e.open[w.StartUs] = w.Groups
		e.nOpen += len(w.Groups)
	}
	// Processing time does not carry over a restart: idleness counts from now.
	e.wm.restarted = true
	e.reemitAll = len(e.pending) > 0
	return nil
}

// StateSeq is the emission sequence recorded in a stage-full or stage-merge
// state of any version, for tools and tests that read a checkpoint without the
// config that wrote it.
func StateSeq(data []byte) (int64, error) {
	s, err := decodeState(data)
	if err != nil {
		return 0, fmt.Errorf("checkpoint is not a window state: %w", err)
	}
	return s.Seq, nil
}

// StateJSON is a state of any version (stage full's or stage merge's, binary
// or JSON) in the JSON layout of version 1, with the version it was written
// in: for people and tools that inspect a checkpoint or a changelog record.
// A binary state of a stage-local source partition comes in the JSON layout
// of its version 1.
func StateJSON(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, []byte(localBinMagic)) {
		st, err := decodeLocal(data)
		if err != nil {
			return nil, fmt.Errorf("checkpoint is not a window state: %w", err)
		}
		return json.Marshal(st)
	}
	s, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint is not a window state: %w", err)
	}
	return json.Marshal(s)
}

// StateAppliedHigh is the highest offset of partition part (topic/partition)
// that a state of any version has applied, -1 if none: for tests and tools
// that check a stage-merge state against its group's committed offsets.
func StateAppliedHigh(data []byte, part string) (int64, error) {
	s, err := decodeState(data)
	if err != nil {
		return 0, fmt.Errorf("checkpoint is not a window state: %w", err)
	}
	return s.Applied[part].highest(), nil
}

// decodeState reads either version: binary (binMagic) or JSON.
func decodeState(data []byte) (*snapshot, error) {
	if bytes.HasPrefix(data, []byte(binMagic)) {
		return decodeBinary(data)
	}
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s.Version >= stateVersionBinaryV2 {
		return nil, fmt.Errorf("a JSON state cannot have version %d", s.Version)
	}
	return &s, nil
}

func sameShape(old, cur shape) error {
	a, _ := json.Marshal(old)
	b, _ := json.Marshal(cur)
	if string(a) == string(b) {
		return nil
	}
	return fmt.Errorf("checkpoint was written for size/offset/group_by/aggregates %s but the config has %s; "+
		"use a new state.key (or delete the old one) when changing them", a, b)
}

// check validates what Restore relies on, so that a damaged checkpoint is
// refused instead of panicking later.
func (s *snapshot) check(nAggs int) error {
	for _, w := range s.Windows {
		for k, g := range w.Groups {
			if g == nil || len(g.Aggs) != nAggs {
				return fmt.Errorf("window %d key %s: want %d aggregates", w.StartUs, k, nAggs)
			}
		}
	}
	for i, em := range s.Pending {
		if em == nil {
			return fmt.Errorf("pending emission %d is null", i)
		}
	}
	for k, p := range s.Watermark.Parts {
		if p == nil {
			return fmt.Errorf("partition %s is null", k)
		}
	}
	if err := checkLocal(s.Local, nAggs); err != nil {
		return err
	}
	for k, spans := range s.Applied {
		for i, sp := range spans {
			if sp.Lo > sp.Hi || (i > 0 && spans[i-1].Hi >= sp.Lo) {
				return fmt.Errorf("applied offsets of %s are not sorted disjoint spans", k)
			}
		}
	}
	return nil
}
