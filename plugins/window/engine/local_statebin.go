package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Stage local writes each source partition's state before every offset
// commit. As JSON (version 1), with ~250 000 open groups (a job grouped by
// (city, userId)) that was a quarter of the job's CPU, mostly formatting
// floats (docs/benchmarks.md, "Many keys, two stages"). Since session 39 it
// is binary (version 2): varints, float64 bits, length-prefixed strings, its
// groups as the checkpoint of stage full and merge writes them (writeGroup,
// with no legacy rounded sum: decodeLocal folds one of a JSON state into the
// exact sum, as Restore does). LoadPartition and
// LocalStateInfo read both; a build before it holds a partition whose state
// is binary (docs/window.md, "State format").

// localBinMagic starts a binary local state; a JSON one starts with '{'.
const localBinMagic = "\x00rcl"

const localStateVersionBinary = 2

// The flags byte of a Marker.
const (
	markerIdle  byte = 1 << 0
	markerEmpty byte = 1 << 1
)

// snapshotLocalBinary encodes st, its open windows taken from open (window
// start → key → group) in order of start, then key. It keeps each entry of
// st.Sent's encoding in the entry (st.Sent is the partition's own list).
func snapshotLocalBinary(st *localState, open map[int64]map[string]*group, sizeHint int) []byte {
	w := binWriter{b: make([]byte, 0, sizeHint+64)}
	w.b = append(w.b, localBinMagic...)
	w.uvarint(localStateVersionBinary)
	w.str(st.Config)
	w.varint(st.Fence)
	w.varint(st.Commit)
	writeMarker(&w, &st.Marker)
	w.varint(st.Closed)
	starts := slices.Sorted(maps.Keys(open))
	starts = slices.DeleteFunc(starts, func(s int64) bool { return len(open[s]) == 0 })
	w.uvarint(uint64(len(starts)))
	for _, start := range starts {
		keys := open[start]
		w.varint(start)
		w.uvarint(uint64(len(keys)))
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			w.str(k)
			writeGroup(&w, keys[k])
		}
	}
	w.uvarint(uint64(len(st.Sent)))
	for i := range st.Sent {
		s := &st.Sent[i]
		w.varint(s.Trigger)
		w.boolean(s.Flush)
		if s.bin == nil {
			bw := binWriter{}
			bw.uvarint(uint64(len(s.Bundles)))
			for j := range s.Bundles {
				writeBundle(&bw, &s.Bundles[j])
			}
			s.bin = bw.b
		}
		w.b = append(w.b, s.bin...)
	}
	return w.b
}

func writeMarker(w *binWriter, m *Marker) {
	w.str(m.Topic)
	w.varint(int64(m.Partition))
	w.varint(int64(m.Partitions))
	w.varint(m.MaxMs)
	w.varint(m.Offset)
	flags := byte(0)
	if m.Idle {
		flags |= markerIdle
	}
	if m.Empty {
		flags |= markerEmpty
	}
	w.b = append(w.b, flags)
}

func writeBundle(w *binWriter, b *Bundle) {
	writeMarker(w, &b.Source)
	w.varint(b.From)
	w.varint(b.To)
	w.varint(int64(b.Shard))
	w.varint(int64(b.Shards))
	w.varint(int64(b.Part))
	w.varint(int64(b.Parts))
	w.uvarint(uint64(len(b.Partials)))
	for i := range b.Partials {
		p := &b.Partials[i]
		w.varint(p.StartUs)
		w.str(p.Key)
		writeGroup(w, &group{Rows: p.Rows, Aggs: p.Aggs})
		w.str(p.Config)
	}
}

// decodeLocalBinary reads a state written by snapshotLocalBinary into the
// form the JSON version decodes to. Every count is bounded by the bytes
// left, so a damaged state is refused without a panic.
func decodeLocalBinary(data []byte) (*localState, error) {
	r := &binReader{b: data[len(localBinMagic):]}
	st := readLocalHeader(r)
	if r.err == nil && st.Version != localStateVersionBinary {
		return nil, errLocalVersion(st.Version)
	}
	for n := r.count(2); n > 0 && r.err == nil; n-- {
		start := r.varint()
		for k := r.count(3); k > 0 && r.err == nil; k-- {
			key := r.str()
			g := readGroup(r)
			st.Open = append(st.Open, Partial{StartUs: start, Key: key, Rows: g.Rows, Aggs: g.Aggs})
		}
	}
	if n := r.count(3); n > 0 {
		st.Sent = make([]sentBundles, n)
		for i := 0; i < n && r.err == nil; i++ {
			s := &st.Sent[i]
			s.Trigger, s.Flush = r.varint(), r.boolean()
			if nb := r.count(13); nb > 0 {
				s.Bundles = make([]Bundle, nb)
				for j := 0; j < nb && r.err == nil; j++ {
					readBundle(r, &s.Bundles[j])
				}
			}
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, r.err
	}
	return st, nil
}

// readLocalHeader reads what LocalStateInfo needs, and the config.
func readLocalHeader(r *binReader) *localState {
	st := &localState{Version: int(min(r.uvarint(), math.MaxInt32))}
	if r.err != nil || st.Version != localStateVersionBinary {
		return st
	}
	st.Config = r.str()
	st.Fence, st.Commit = r.varint(), r.varint()
	readMarker(r, &st.Marker)
	st.Closed = r.varint()
	return st
}

func readMarker(r *binReader, m *Marker) {
	m.Topic = r.str()
	m.Partition, m.Partitions = int32(r.varint()), int32(r.varint())
	m.MaxMs, m.Offset = r.varint(), r.varint()
	flags := r.byte()
	if flags&^(markerIdle|markerEmpty) != 0 {
		r.fail()
	}
	m.Idle, m.Empty = flags&markerIdle != 0, flags&markerEmpty != 0
}

func readBundle(r *binReader, b *Bundle) {
	readMarker(r, &b.Source)
	b.From, b.To = r.varint(), r.varint()
	b.Shard, b.Shards = int32(r.varint()), int32(r.varint())
	b.Part, b.Parts = int32(r.varint()), int32(r.varint())
	if n := r.count(5); n > 0 {
		b.Partials = make([]Partial, n)
		for i := 0; i < n && r.err == nil; i++ {
			p := &b.Partials[i]
			p.StartUs, p.Key = r.varint(), r.str()
			g := readGroup(r)
			p.Rows, p.Aggs, p.Config = g.Rows, g.Aggs, r.str()
		}
	}
}

func errLocalVersion(v int) error {
	return fmt.Errorf("has version %d, this build reads %d (JSON) and %d", v, localStateVersion, localStateVersionBinary)
}

// decodeLocal reads a local state of either version, and refuses others.
func decodeLocal(data []byte) (*localState, error) {
	if bytes.HasPrefix(data, []byte(localBinMagic)) {
		return decodeLocalBinary(data)
	}
	var st localState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	if st.Version != localStateVersion {
		return nil, errLocalVersion(st.Version)
	}
	// A rounded legacy sum goes into the exact one, as Restore does: the
	// binary form has none (no stage local ever wrote one; a hand-made or
	// damaged state might).
	fold := func(aggs []acc) {
		for i := range aggs {
			aggs[i].foldLegacy()
		}
	}
	for i := range st.Open {
		fold(st.Open[i].Aggs)
	}
	for i := range st.Sent {
		for j := range st.Sent[i].Bundles {
			for k := range st.Sent[i].Bundles[j].Partials {
				fold(st.Sent[i].Bundles[j].Partials[k].Aggs)
			}
		}
	}
	return &st, nil
}
