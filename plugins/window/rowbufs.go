package window

import (
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// rowBufs holds the per-batch slices of extraction (about 170 bytes per
// message: rows, their values, indexes, the errored messages), reused across
// the batches of stage full instead of allocated and collected per batch.
type rowBufs struct {
	out  []*service.Message
	rows []engine.Row
	idx  []int
	vbuf []engine.Value
}

var rowBufPool = sync.Pool{New: func() any { return &rowBufs{} }}

func getRowBufs() *rowBufs { return rowBufPool.Get().(*rowBufs) }

// size readies b for n messages with nv values each: out and vbuf zeroed
// (a nil out[i] means message i passed, a value slot not written is 0),
// rows and idx empty.
func (b *rowBufs) size(n, nv int) {
	if cap(b.out) < n {
		b.out = make([]*service.Message, n)
	} else {
		b.out = b.out[:n]
		clear(b.out)
	}
	if cap(b.vbuf) < n*nv {
		b.vbuf = make([]engine.Value, n*nv)
	} else {
		b.vbuf = b.vbuf[:n*nv]
		clear(b.vbuf)
	}
	if cap(b.rows) < n {
		b.rows = make([]engine.Row, 0, n)
	}
	if cap(b.idx) < n {
		b.idx = make([]int, 0, n)
	}
	b.rows, b.idx = b.rows[:0], b.idx[:0]
}

// release returns b to the pool without the messages it pointed to.
func (b *rowBufs) release() {
	clear(b.out)
	rowBufPool.Put(b)
}
