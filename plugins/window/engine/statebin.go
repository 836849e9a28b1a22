package engine

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
)

// The checkpoint's binary encoding (state versions 2 and 3). Snapshot runs once per
// batch, and encoding/json spent most of it in reflection on a state that is
// mostly unchanged floats and emissions, so the state is written field by
// field: varints, float64 bits, length-prefixed strings, map entries sorted
// by key (equal states encode to equal bytes, so an unchanged state is not
// rewritten). The retained emissions, which change only when one is added, are
// encoded once and reused. Restore still reads version 1 (JSON, written
// before 3 Dec 2026); see docs/window.md.

// binMagic starts a version-2 state. A version-1 state is a JSON object, so
// its first byte is '{' (or JSON whitespace), never 0.
const binMagic = "\x00rcw"

// stateVersionBinary is stage full's; version 2 (before session 24) is
// version 3 without the covers that end it. stateVersionBinaryLocal is stage
// merge's (since session 37; JSON version 1 before): version 3 followed by
// its record of local stage-1 sources (writeLocal).
const (
	stateVersionBinary      = 3
	stateVersionBinaryV2    = 2
	stateVersionBinaryLocal = 4
)

// The flags byte of a watermark partition.
const (
	partIdle   byte = 1 << 0
	partMarked byte = 1 << 1
)

type binWriter struct{ b []byte }

func (w *binWriter) uvarint(x uint64) { w.b = binary.AppendUvarint(w.b, x) }
func (w *binWriter) varint(x int64)   { w.b = binary.AppendVarint(w.b, x) }
func (w *binWriter) f64(x float64)    { w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(x)) }
func (w *binWriter) str(s string)     { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *binWriter) bytes(s []byte)   { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }

func (w *binWriter) boolean(x bool) {
	if x {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// snapshotBinary encodes the state; sizeHint is the length of the last one.
func (e *Engine) snapshotBinary(sizeHint int) ([]byte, error) {
	version := uint64(stateVersionBinary)
	if e.cfg.Stage == StageMerge {
		version = stateVersionBinaryLocal
	}
	w := binWriter{b: make([]byte, 0, sizeHint+64)}
	w.b = append(w.b, binMagic...)
	w.uvarint(version)
	w.bytes(e.shapeJSON())
	e.writeWatermark(&w)
	w.varint(e.seq)
	starts := slices.Sorted(maps.Keys(e.open))
	w.uvarint(uint64(len(starts)))
	if e.openEnc == nil {
		e.openEnc = map[int64][]byte{}
	}
	for _, start := range starts {
		// A window's block is encoded again only when one of its groups
		// changed since (e.touched): a backlog adds to the newest windows
		// while the older ones wait for the watermark, and with many keys
		// re-encoding them all was most of each snapshot.
		enc, ok := e.openEnc[start]
		if !ok {
			ww := binWriter{}
			groups := e.open[start]
			ww.varint(start)
			ww.uvarint(uint64(len(groups)))
			for _, k := range slices.Sorted(maps.Keys(groups)) {
				ww.str(k)
				writeGroup(&ww, groups[k])
			}
			enc = ww.b
			e.openEnc[start] = enc
		}
		w.b = append(w.b, enc...)
	}
	parts := slices.Sorted(maps.Keys(e.applied))
	w.uvarint(uint64(len(parts)))
	for _, k := range parts {
		w.str(k)
		writeSpans(&w, e.applied[k])
	}
	if e.pendingBin == nil {
		pw := binWriter{}
		e.writePending(&pw)
		e.pendingBin = pw.b
	}
	w.b = append(w.b, e.pendingBin...)
	covered := slices.Sorted(maps.Keys(e.covers))
	w.uvarint(uint64(len(covered)))
	for _, k := range covered {
		w.str(k)
		w.varint(e.covers[k])
	}
	if version == stateVersionBinaryLocal {
		if err := e.writeLocal(&w); err != nil {
			return nil, err
		}
	}
	return w.b, nil
}

// writeLocal encodes stage merge's record of each local stage-1 source: the
// window end it closed, and the bundles it holds (out of order, or parts of
// a split bundle), each as the JSON it came in (EncodeBundle): they are
// rare, and read back by DecodeBundle like any bundle.
func (e *Engine) writeLocal(w *binWriter) error {
	keys := slices.Sorted(maps.Keys(e.local))
	w.uvarint(uint64(len(keys)))
	for _, k := range keys {
		ls := e.local[k]
		w.str(k)
		w.varint(ls.Closed)
		for _, held := range [][]*Bundle{ls.Held, ls.Chunks} {
			w.uvarint(uint64(len(held)))
			for _, b := range held {
				enc, err := EncodeBundle(b)
				if err != nil {
					return fmt.Errorf("local source %s: %w", k, err)
				}
				w.bytes(enc)
			}
		}
	}
	return nil
}

func (e *Engine) writeWatermark(w *binWriter) {
	wm := &e.wm
	w.varint(wm.Current)
	w.varint(wm.Late)
	w.varint(wm.MaxEvent)
	w.varint(wm.LastData)
	w.uvarint(uint64(len(wm.Parts)))
	for _, k := range slices.Sorted(maps.Keys(wm.Parts)) {
		p := wm.Parts[k]
		w.str(k)
		w.varint(p.MaxMs)
		w.varint(p.LastSeenMs)
		// One byte: bit 0 Idle, bit 1 Marked (then MarkOffset follows).
		// Stage full never marks, so its states keep the 0/1 byte of before.
		flags := byte(0)
		if p.Idle {
			flags |= partIdle
		}
		if p.Marked {
			flags |= partMarked
		}
		w.b = append(w.b, flags)
		if p.Marked {
			w.varint(p.MarkOffset)
		}
	}
	w.uvarint(uint64(len(wm.Topics)))
	for _, k := range slices.Sorted(maps.Keys(wm.Topics)) {
		w.str(k)
		w.varint(int64(wm.Topics[k]))
	}
}

func writeGroup(w *binWriter, g *group) {
	w.varint(g.Rows)
	w.uvarint(uint64(len(g.Aggs)))
	for i := range g.Aggs {
		a := &g.Aggs[i]
		// Legacy is always 0 here: Restore folds it into Sum.
		w.boolean(a.Sum.Overflow)
		w.uvarint(uint64(len(a.Sum.P)))
		for _, x := range a.Sum.P {
			w.f64(x)
		}
		w.varint(a.N)
		w.f64(a.Min)
		w.f64(a.Max)
	}
}

func writeSpans(w *binWriter, s []span) {
	w.uvarint(uint64(len(s)))
	for _, sp := range s {
		w.varint(sp.Lo)
		w.varint(sp.Hi)
	}
}

// writePending encodes the retained emissions, each from its own encoding
// made once: the list gains one emission at a time and keeps up to
// RetainEmissions, which with many rows per window made re-encoding them all
// the largest part of a snapshot.
func (e *Engine) writePending(w *binWriter) {
	w.uvarint(uint64(len(e.pending)))
	for i, em := range e.pending {
		if e.pendingEnc[i] == nil {
			ew := binWriter{}
			writeEmission(&ew, em)
			e.pendingEnc[i] = ew.b
		}
		w.b = append(w.b, e.pendingEnc[i]...)
	}
}

func writeEmission(w *binWriter, em *Emission) {
	w.varint(em.Seq)
	w.uvarint(uint64(len(em.Rows)))
	for i := range em.Rows {
		r := &em.Rows[i]
		w.varint(r.StartUs)
		w.varint(r.EndUs)
		w.str(r.Key)
		w.varint(r.Seq)
		w.uvarint(uint64(len(r.Values)))
		for _, v := range r.Values {
			w.bytes(v)
		}
	}
	keys := slices.Sorted(maps.Keys(em.Trigger))
	w.uvarint(uint64(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.varint(em.Trigger[k].Lo)
		w.varint(em.Trigger[k].Hi)
	}
}
