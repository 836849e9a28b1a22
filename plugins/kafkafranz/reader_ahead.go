package kafkafranz

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// Read-ahead for the non-transactional input (replayReader).
//
// Benthos calls ReadBatch from one goroutine and hands each batch to a
// pipeline thread through an unbuffered channel, so without read-ahead the
// next batch is only polled and built (~0.2 µs of metadata per record) once a
// thread has taken the last one: a thread that finishes first waits for that
// build, and the fetch of the next records waits for the poll. A trace of
// config/rides.yaml draining a backlog on two cores showed the pipeline
// threads waiting for the input ~15 % of the time while the input waited for
// them (docs/benchmarks.md, "Where the wall goes"). Here the reader runs on
// its own goroutine and keeps aheadBatches batches built; ReadBatch takes the
// oldest. The batches, their order and their contents are those of the
// reader alone: only when they are built changes.

// aheadBatches is how many built batches wait for ReadBatch (plus the one the
// reader goroutine holds while it waits to queue it). Records are held until
// acked anyway (checkpoint_limit); this adds at most two batches' messages.
const aheadBatches = 1

// aheadItem is one readBatch result.
type aheadItem struct {
	batch service.MessageBatch
	srcs  []msgSource
	ack   service.AckFunc
	err   error
}

// readAhead runs r.readBatch on its own goroutine until it returns an error
// (sent, then the goroutine ends) or stop is called. While it runs, no other
// goroutine may use r (its batchers, boxes and consumer poll are the reader
// goroutine's): replayReader builds replays without r's boxes.
type readAhead struct {
	items  chan aheadItem
	cancel context.CancelFunc
	done   chan struct{}
}

func startReadAhead(r *reader) *readAhead {
	ctx, cancel := context.WithCancel(context.Background())
	a := &readAhead{items: make(chan aheadItem, aheadBatches), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for {
			batch, srcs, ack, err := r.readBatch(ctx)
			select {
			case a.items <- aheadItem{batch, srcs, ack, err}:
			case <-ctx.Done():
				// Stopped: a batch read but not handed out is never acked,
				// so its records are not committed (read again after a restart).
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return a
}

// stop ends the goroutine and waits for it, or for ctx.
func (a *readAhead) stop(ctx context.Context) error {
	a.cancel()
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dropRevokedAhead drops the records of partitions revoked while the batch
// waited in the read-ahead queue (the reader dropped those revoked before it
// queued it), as popReady does: the new owner reads them from the last commit.
func (r *reader) dropRevokedAhead(batch service.MessageBatch, srcs []msgSource) (service.MessageBatch, []msgSource) {
	var last *chunkRef
	for _, s := range srcs {
		if s.ref == last {
			continue
		}
		if last = s.ref; !s.ref.chunk.Live() {
			return r.dropRevokedSources(readyBatch{batch: batch, srcs: srcs, chunks: []franz.Chunk{s.ref.chunk}})
		}
	}
	return batch, srcs
}
