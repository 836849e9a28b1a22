package kafkafranz

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
)

// replayReader is auto_replay_nacks: true for the non-transactional input,
// in place of service.AutoRetryNacksBatched. That wrapper tags and copies
// every message of every batch so it can replay a nacked one; the reader
// already holds each batch's records until the ack, so a nacked batch is
// built again from them instead, and the happy path copies nothing.
//
// The rules are Benthos': a nacked batch is handed out again before any new
// batch; with a batch error naming failed messages only those of this batch
// are replayed (else the whole batch); from the third attempt on a replay
// waits a backoff growing from 1ms by 1.1× up to 1s; the batch's records are
// released (and become committable) only once its last replay is acked. A
// replayed message has the metadata of the first delivery. Unlike Benthos, a
// record whose partition was revoked meanwhile is not replayed: the new owner
// reads it again from the last commit.
type replayReader struct {
	r *reader

	mu      sync.Mutex
	pending []*handedBatch // nacked, to hand out again (oldest first)
	// inFlight counts batches handed out and not yet delivered: after the
	// reader's end, ReadBatch serves replays until it reaches zero.
	inFlight   int
	closed     bool               // the reader reported its end
	cancelRead context.CancelFunc // stops a read in progress when a nack arrives
	kick       chan struct{}      // an ack or nack happened
}

// handedBatch is a batch handed downstream: the records of its messages and
// the reader's ack, called once they are all delivered.
type handedBatch struct {
	srcs     []msgSource
	ack      service.AckFunc
	attempts int
	backoff  time.Duration
	nacked   []msgSource // set by the nack: what to replay
}

const (
	replayBackoffStart = time.Millisecond
	replayBackoffMax   = time.Second
	replayBackoffGrow  = 1.1
	replayFreeAttempts = 2 // replays without a backoff, as Benthos
)

func newReplayReader(r *reader) *replayReader {
	return &replayReader{r: r, kick: make(chan struct{}, 1)}
}

func (p *replayReader) Connect(ctx context.Context) error {
	err := p.r.Connect(ctx)
	if errors.Is(err, service.ErrEndOfInput) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.closed = true
		if p.inFlight > 0 || len(p.pending) > 0 {
			return nil // replays still to serve: ReadBatch ends the input
		}
	}
	return err
}

func (p *replayReader) Close(ctx context.Context) error { return p.r.Close(ctx) }

func (p *replayReader) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	for {
		if hb := p.popPending(); hb != nil {
			batch, ack, err := p.replay(ctx, hb)
			if err != nil || batch != nil {
				return batch, ack, err
			}
			continue // every record of it was revoked
		}
		p.mu.Lock()
		if p.closed {
			done := p.inFlight == 0
			p.mu.Unlock()
			if done {
				return nil, nil, service.ErrEndOfInput
			}
			select {
			case <-p.kick:
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		if len(p.pending) > 0 {
			p.mu.Unlock() // nacked since popPending
			continue
		}
		readCtx, cancel := context.WithCancel(ctx)
		p.cancelRead = cancel
		p.mu.Unlock()

		batch, srcs, ack, err := p.r.readBatch(readCtx)
		p.mu.Lock()
		p.cancelRead = nil
		p.mu.Unlock()
		stopped := readCtx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			return batch, p.handOut(&handedBatch{srcs: srcs, ack: ack}), nil
		case stopped:
			continue // stopped by a nack: serve its replay first
		case errors.Is(err, service.ErrEndOfInput):
			p.mu.Lock()
			p.closed = true
			p.mu.Unlock()
			continue
		default:
			return nil, nil, err
		}
	}
}

func (p *replayReader) popPending() *handedBatch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return nil
	}
	hb := p.pending[0]
	p.pending[0] = nil
	p.pending = p.pending[1:]
	return hb
}

// replay hands out a nacked batch again, built from its records (reader
// goroutine: recordToMessage's boxes are not shared). It returns a nil batch
// when every record to replay belongs to a revoked partition.
func (p *replayReader) replay(ctx context.Context, hb *handedBatch) (service.MessageBatch, service.AckFunc, error) {
	if hb.attempts++; hb.attempts > replayFreeAttempts {
		hb.backoff = min(max(replayBackoffStart, time.Duration(float64(hb.backoff)*replayBackoffGrow)), replayBackoffMax)
		t := time.NewTimer(hb.backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			hb.attempts--
			p.mu.Lock()
			p.pending = append([]*handedBatch{hb}, p.pending...)
			p.mu.Unlock()
			return nil, nil, ctx.Err()
		}
	}
	srcs := hb.nacked[:0:0]
	dropped := map[partitionKey]int{}
	for _, s := range hb.nacked {
		if !s.ref.chunk.Live() {
			dropped[partitionKey{s.ref.chunk.Topic, s.ref.chunk.Partition}]++
			continue
		}
		srcs = append(srcs, s)
	}
	for k, n := range dropped {
		p.r.met.revokedDropped(k.topic, k.partition, n)
	}
	hb.srcs, hb.nacked = srcs, nil
	if len(srcs) == 0 {
		// Nothing left to deliver; acks of revoked chunks commit nothing.
		p.delivered(ctx, hb)
		return nil, nil, nil
	}
	batch := make(service.MessageBatch, len(srcs))
	for i, s := range srcs {
		batch[i] = s.message()
	}
	p.mu.Lock()
	p.inFlight-- // handOut counts it again
	p.mu.Unlock()
	return batch, p.handOut(hb), nil
}

// handOut counts hb in flight and returns the ack to give downstream.
func (p *replayReader) handOut(hb *handedBatch) service.AckFunc {
	p.mu.Lock()
	p.inFlight++
	p.mu.Unlock()
	var once sync.Once
	return func(ctx context.Context, err error) error {
		once.Do(func() {
			if err == nil {
				p.delivered(ctx, hb)
				return
			}
			hb.nacked = nackedSources(hb.srcs, err)
			p.mu.Lock()
			p.pending = append(p.pending, hb)
			if p.cancelRead != nil {
				p.cancelRead()
			}
			p.mu.Unlock()
			p.signal()
		})
		return nil
	}
}

func (p *replayReader) delivered(ctx context.Context, hb *handedBatch) {
	_ = hb.ack(ctx, nil)
	p.mu.Lock()
	p.inFlight--
	p.mu.Unlock()
	p.signal()
}

func (p *replayReader) signal() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// nackedSources is what a nack with err replays of a batch built from srcs:
// with a batch error naming failed messages, those that came from this
// batch, found by their records (kafkarecord) or their kafka_topic,
// kafka_partition and kafka_offset metadata; the whole batch when none is
// found (Benthos' rule).
func nackedSources(srcs []msgSource, err error) []msgSource {
	var bErr *service.BatchError
	if !errors.As(err, &bErr) || bErr.IndexedErrors() == 0 {
		return srcs
	}
	type recordKey struct {
		p      partitionKey
		offset int64
	}
	index := make(map[recordKey]int, len(srcs))
	for i, s := range srcs {
		index[recordKey{partitionKey{s.ref.chunk.Topic, s.ref.chunk.Partition}, s.record().Offset}] = i
	}
	failed := make([]bool, len(srcs))
	n := 0
	bErr.WalkMessages(func(_ int, m *service.Message, merr error) bool {
		if merr == nil {
			return true
		}
		k, ok := messagePartition(m)
		if !ok {
			return true
		}
		off, ok := metaOffset(m)
		if !ok {
			return true
		}
		if i, ok := index[recordKey{k, off}]; ok && !failed[i] {
			failed[i] = true
			n++
		}
		return true
	})
	if n == 0 {
		return srcs
	}
	picked := make([]msgSource, 0, n)
	for i, s := range srcs {
		if failed[i] {
			picked = append(picked, s)
		}
	}
	return picked
}

// metaOffset reads the record's offset, or kafka_offset (an int as set by the
// input, or a string).
func metaOffset(m *service.Message) (int64, bool) {
	if r, ok := kafkarecord.Of(m); ok {
		_, _, off := r.Position()
		return off, true
	}
	switch v := mustMeta(m, "kafka_offset").(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}
