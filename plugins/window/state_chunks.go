package window

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
)

// A stage-merge state written to a changelog (state.changelog) above
// stateChunkBytes leaves as several records instead of one: Kafka refuses a
// record above the topic's max.message.bytes (1 MiB by default), and one
// refused record aborts the transaction on every retry, which stalled the
// job for good (docs/scale-out.md). Chunk 0 goes under the state's key,
// chunk i under key#i, all in the same transaction; each carries a header
// naming the chunk count and the whole state's length and CRC-32C, so a
// reader that meets chunks of two versions (the cache caught up between two
// reads) knows it and reads again. A state that fits stays one record with
// no header, as before chunking: older states load as they are, and a
// state that shrinks back to one record leaves its old chunks i ≥ 1 unread.
const (
	stateChunkBytes = 512 << 10
	// chunkMagic starts like an engine state (engine.binMagic) but goes on
	// with 'c' where a state has its version (a uvarint, 2): never a state.
	chunkMagic       = "\x00rcwchunk"
	chunkHeaderBytes = len(chunkMagic) + 4*4 // index, count, length, crc
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunkKey is the cache key of chunk i of the state under key.
func chunkKey(key string, i int) string {
	if i == 0 {
		return key
	}
	return key + "#" + strconv.Itoa(i)
}

// splitState returns data as one record if it fits in max bytes, and as
// headed chunks of at most max payload bytes otherwise.
func splitState(data []byte, max int) [][]byte {
	if len(data) <= max {
		return [][]byte{data}
	}
	n := (len(data) + max - 1) / max
	sum := crc32.Checksum(data, castagnoli)
	out := make([][]byte, n)
	for i := range out {
		part := data[i*max : min((i+1)*max, len(data))]
		c := make([]byte, 0, chunkHeaderBytes+len(part))
		c = append(c, chunkMagic...)
		c = binary.BigEndian.AppendUint32(c, uint32(i))
		c = binary.BigEndian.AppendUint32(c, uint32(n))
		c = binary.BigEndian.AppendUint32(c, uint32(len(data)))
		c = binary.BigEndian.AppendUint32(c, sum)
		out[i] = append(c, part...)
	}
	return out
}

type chunkHeader struct{ index, count, length, sum uint32 }

func parseChunk(rec []byte) (chunkHeader, []byte, bool) {
	if len(rec) < chunkHeaderBytes || string(rec[:len(chunkMagic)]) != chunkMagic {
		return chunkHeader{}, nil, false
	}
	h := rec[len(chunkMagic):]
	return chunkHeader{binary.BigEndian.Uint32(h), binary.BigEndian.Uint32(h[4:]),
		binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:])}, rec[chunkHeaderBytes:], true
}

// errMixedChunks: the chunks read are not one state (a newer one arrived
// between the reads, or a chunk is missing); the read is retried.
var errMixedChunks = errors.New("the chunks of the state read are of different versions (read again)")

// pendingJoined is a joined state of which at least one chunk may have a
// newer version committed behind an open transaction (pendingState).
type pendingJoined struct {
	error
	data []byte
}

func (p pendingJoined) PendingValue() ([]byte, bool) { return p.data, p.data != nil }

// joinChunks wraps a state read so that a chunked state comes back whole.
// A chunk answered with a pendingState contributes the value visible
// meanwhile, and the joined state is then returned as pending itself.
func joinChunks(read func(context.Context, string) ([]byte, error)) func(context.Context, string) ([]byte, error) {
	get := func(ctx context.Context, key string) ([]byte, error, error) {
		v, err := read(ctx, key)
		var ps pendingState
		if err != nil && errors.As(err, &ps) {
			v, _ = ps.PendingValue()
			return v, err, nil
		}
		return v, nil, err
	}
	return func(ctx context.Context, key string) ([]byte, error) {
		first, pending, err := get(ctx, key)
		if err != nil {
			return nil, err
		}
		h, part, ok := parseChunk(first)
		if !ok {
			return first, pending // one record, or none
		}
		if h.index != 0 {
			return nil, fmt.Errorf("state %q: %w", key, errMixedChunks)
		}
		data := make([]byte, 0, h.length)
		for i := 0; ; i++ {
			if int(h.length)-len(data) < len(part) {
				return nil, fmt.Errorf("state %q: %w", key, errMixedChunks)
			}
			data = append(data, part...)
			if i+1 == int(h.count) {
				break
			}
			rec, p, err := get(ctx, chunkKey(key, i+1))
			if err != nil {
				return nil, err
			}
			if pending == nil {
				pending = p
			}
			hi, pi, ok := parseChunk(rec)
			if !ok || hi != (chunkHeader{uint32(i + 1), h.count, h.length, h.sum}) {
				return nil, fmt.Errorf("state %q, chunk %d of %d: %w", key, i+1, h.count, errMixedChunks)
			}
			part = pi
		}
		if len(data) != int(h.length) || crc32.Checksum(data, castagnoli) != h.sum {
			return nil, fmt.Errorf("state %q: %w", key, errMixedChunks)
		}
		if pending != nil {
			return nil, pendingJoined{pending, data}
		}
		return data, nil
	}
}
