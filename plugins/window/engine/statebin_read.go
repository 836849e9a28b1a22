package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Reading the binary state (statebin.go) into the same snapshot the JSON
// version decodes to, so both go through the same checks in Restore. Every
// count is bounded by the bytes left, so a damaged state is refused without
// a huge allocation or a panic.

var errTruncated = errors.New("truncated or malformed binary state")

type binReader struct {
	b   []byte
	err error
}

func (r *binReader) fail() {
	if r.err == nil {
		r.err = errTruncated
	}
	r.b = nil
}

func (r *binReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *binReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a number of items each at least minBytes long.
func (r *binReader) count(minBytes int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/minBytes) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *binReader) raw() []byte {
	n := r.count(1)
	if r.err != nil {
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *binReader) str() string { return string(r.raw()) }

func (r *binReader) f64() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// byte reads one byte.
func (r *binReader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *binReader) boolean() bool {
	if len(r.b) < 1 || r.b[0] > 1 {
		r.fail()
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

// decodeBinary reads a state that starts with binMagic.
func decodeBinary(data []byte) (*snapshot, error) {
	r := &binReader{b: data[len(binMagic):]}
	s := &snapshot{Version: int(min(r.uvarint(), math.MaxInt32))}
	if r.err == nil && s.Version != stateVersionBinary && s.Version != stateVersionBinaryV2 && s.Version != stateVersionBinaryLocal {
		return s, nil // Restore words the version error
	}
	if err := json.Unmarshal(r.raw(), &s.Shape); err != nil && r.err == nil {
		return nil, fmt.Errorf("shape: %w", err)
	}
	readWatermark(r, &s.Watermark)
	s.Seq = r.varint()
	nw := r.count(2)
	for i := 0; i < nw && r.err == nil; i++ {
		w := windowState{StartUs: r.varint(), Groups: map[string]*group{}}
		ng := r.count(3)
		for j := 0; j < ng && r.err == nil; j++ {
			k := r.str()
			w.Groups[k] = readGroup(r)
		}
		s.Windows = append(s.Windows, w)
	}
	np := r.count(2)
	s.Applied = make(map[string]appliedOffsets, np)
	for i := 0; i < np && r.err == nil; i++ {
		k := r.str()
		s.Applied[k] = readSpans(r)
	}
	s.Pending = readPending(r)
	if s.Version >= stateVersionBinary {
		nc := r.count(2)
		s.Covers = make(map[string]int64, nc)
		for i := 0; i < nc && r.err == nil; i++ {
			k := r.str()
			s.Covers[k] = r.varint()
		}
	}
	if s.Version == stateVersionBinaryLocal {
		s.Local = readLocal(r)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the end of the binary state", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// readLocal reads what writeLocal wrote.
func readLocal(r *binReader) map[string]*localSource {
	n := r.count(4)
	if n == 0 {
		return nil
	}
	local := make(map[string]*localSource, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := r.str()
		ls := &localSource{Closed: r.varint()}
		for _, held := range []*[]*Bundle{&ls.Held, &ls.Chunks} {
			nb := r.count(2)
			for j := 0; j < nb && r.err == nil; j++ {
				raw := r.raw()
				if r.err != nil {
					break
				}
				b, err := DecodeBundle(raw)
				if err != nil {
					r.err = fmt.Errorf("local source %s: %w", k, err)
					break
				}
				*held = append(*held, b)
			}
		}
		local[k] = ls
	}
	return local
}

func readWatermark(r *binReader, wm *watermark) {
	wm.Current, wm.Late, wm.MaxEvent, wm.LastData = r.varint(), r.varint(), r.varint(), r.varint()
	if n := r.count(4); n > 0 {
		wm.Parts = make(map[string]*partition, n)
		for i := 0; i < n && r.err == nil; i++ {
			k := r.str()
			p := &partition{MaxMs: r.varint(), LastSeenMs: r.varint()}
			flags := r.byte()
			if flags&^(partIdle|partMarked) != 0 {
				r.fail()
			}
			p.Idle, p.Marked = flags&partIdle != 0, flags&partMarked != 0
			if p.Marked {
				p.MarkOffset = r.varint()
			}
			wm.Parts[k] = p
		}
	}
	if n := r.count(2); n > 0 {
		wm.Topics = make(map[string]int32, n)
		for i := 0; i < n && r.err == nil; i++ {
			k := r.str()
			v := r.varint()
			if v < 0 || v > math.MaxInt32 {
				r.fail()
			}
			wm.Topics[k] = int32(v)
		}
	}
}

func readGroup(r *binReader) *group {
	g := &group{Rows: r.varint()}
	n := r.count(19)
	g.Aggs = make([]acc, n)
	for i := 0; i < n && r.err == nil; i++ {
		a := &g.Aggs[i]
		a.Sum.Overflow = r.boolean()
		if np := r.count(8); np > 0 {
			a.Sum.P = make([]float64, np)
			for j := range a.Sum.P {
				a.Sum.P[j] = r.f64()
			}
		}
		a.N = r.varint()
		a.Min, a.Max = r.f64(), r.f64()
	}
	return g
}

func readSpans(r *binReader) appliedOffsets {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	s := make(appliedOffsets, n)
	for i := range s {
		s[i] = span{Lo: r.varint(), Hi: r.varint()}
	}
	return s
}

func readPending(r *binReader) []*Emission {
	n := r.count(3)
	if n == 0 {
		return nil
	}
	out := make([]*Emission, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		em := &Emission{Seq: r.varint()}
		nr := r.count(5)
		em.Rows = make([]OutRow, nr)
		for j := 0; j < nr && r.err == nil; j++ {
			row := &em.Rows[j]
			row.StartUs, row.EndUs, row.Key, row.Seq = r.varint(), r.varint(), r.str(), r.varint()
			row.Values = make([]json.RawMessage, r.count(1))
			for k := range row.Values {
				v := r.raw()
				if r.err == nil && !json.Valid(v) {
					r.err = fmt.Errorf("emission %d: a value is not JSON", em.Seq)
				}
				row.Values[k] = bytes.Clone(v)
			}
		}
		if nt := r.count(3); nt > 0 {
			em.Trigger = make(map[string]span, nt)
			for j := 0; j < nt && r.err == nil; j++ {
				k := r.str()
				em.Trigger[k] = span{Lo: r.varint(), Hi: r.varint()}
			}
		}
		out = append(out, em)
	}
	return out
}
