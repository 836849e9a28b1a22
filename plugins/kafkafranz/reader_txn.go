package kafkafranz

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnReader is the input in transactional mode: batches are handed out in
// Kafka transactions of about `transaction.commit_period`. A transaction
// ends only once every batch handed out in it is acked or nacked (no new
// batch goes out meanwhile, so no produce can straddle two transactions);
// it commits when all were acked, and otherwise aborts and rewinds the
// consumer to the committed offsets (the reader's buffered records turn
// stale and are dropped, see franz.Chunk.Live).
type txnReader struct {
	*reader
	period time.Duration
	now    func() time.Time

	open     bool      // ReadBatch goroutine only
	deadline time.Time // when the open transaction should end

	// endSoon carries the outputs' requests to end the open transaction
	// before its deadline (transaction.end_early_on_metadata); ending is set
	// when the goroutine that waits for one during a read took it.
	endSoon <-chan struct{}
	ending  atomic.Bool

	mu          sync.Mutex
	outstanding int   // batches handed out in the open transaction, not yet acked
	failed      error // first nack or failed produce of the open transaction
	idle        chan struct{}
	turns       *partitionTurns
}

func newTxnReader(r *reader, period time.Duration) *txnReader {
	t := &txnReader{reader: r, period: period, now: time.Now, idle: make(chan struct{}, 1), turns: newPartitionTurns(),
		endSoon: txnHandleFor(r.mgr, r.mgr.Label()).endSoon}
	r.delivered = func(last map[partitionKey]*kgo.Record) {
		for _, rec := range last {
			r.cons.MarkTxn(rec)
		}
	}
	return t
}

func (t *txnReader) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	for {
		if t.open && (!t.now().Before(t.deadline) || t.hasFailed() || t.endRequested() && t.reader.cons.CaughtUp()) {
			if err := t.end(ctx); err != nil {
				return nil, nil, err
			}
			continue
		}
		rctx, cancel := ctx, context.CancelFunc(func() {})
		watched := make(chan struct{})
		if t.open {
			rctx, cancel = context.WithDeadline(ctx, t.deadline)
			go t.cancelOnEndRequest(rctx, cancel, watched)
		} else {
			close(watched)
		}
		t.frontFree()
		batch, ack, err := t.reader.ReadBatch(rctx)
		cancel()
		// The watcher of this read has exited before the next read starts:
		// a request it took is in t.ending, not lost with a read that is
		// over while the next one waits for its deadline.
		<-watched
		if err != nil {
			if t.open && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
				continue // commit period over, or an end was requested
			}
			return nil, nil, err
		}
		parts := slices.Clone(t.reader.handed)
		if err := t.turns.take(ctx, parts); err != nil {
			return nil, nil, err // shutting down: not acked, read again by the next session
		}
		if !t.open {
			if err := t.reader.cons.BeginTxn(); err != nil {
				t.turns.give(parts)
				// Not acked: acking would mark its offsets. The session is
				// gone (EndTxn failed), and the new one rewinds.
				t.log.Warnf("kafka_franz: cannot begin a transaction, reconnecting: %v", err)
				return nil, nil, service.ErrNotConnected
			}
			t.open, t.deadline = true, t.now().Add(t.period)
		}
		batch, ack = t.handOut(batch, ack, parts)
		return batch, ack, nil
	}
}

// handOut counts a batch in the open transaction.
func (t *txnReader) handOut(batch service.MessageBatch, ack service.AckFunc, parts []partitionKey) (service.MessageBatch, service.AckFunc) {
	t.mu.Lock()
	t.outstanding++
	t.mu.Unlock()
	var once sync.Once
	return batch, func(actx context.Context, err error) error {
		once.Do(func() {
			// Release the chunks first: that marks their offsets for
			// the commit, which may start as soon as done counts this
			// batch.
			_ = ack(actx, nil)
			t.turns.give(parts) // produced: the partitions' next batches may go
			t.done(err)
		})
		return nil
	}
}

// endRequested says whether an output asked to end the open transaction
// now. ReadBatch honours it only while the consumer is caught up (a live
// stream): through a backlog, transactions keep to commit_period, since
// every end stalls the pipeline until its batches are acked. The request
// stays until a transaction ends (clearEndRequest), so one made while the
// consumer is behind is honoured once it has caught up.
func (t *txnReader) endRequested() bool {
	select {
	case <-t.endSoon:
		t.ending.Store(true)
	default:
	}
	return t.ending.Load()
}

// clearEndRequest drops the requests the ending transaction answers.
func (t *txnReader) clearEndRequest() {
	select {
	case <-t.endSoon:
	default:
	}
	t.ending.Store(false)
}

// cancelOnEndRequest cancels a read of the open transaction when an output
// asks for it to end, so the end need not wait for the next record. It
// closes watched when it returns.
func (t *txnReader) cancelOnEndRequest(rctx context.Context, cancel context.CancelFunc, watched chan<- struct{}) {
	defer close(watched)
	select {
	case <-t.endSoon:
		t.ending.Store(true)
		cancel()
	case <-rctx.Done():
	}
}

func (t *txnReader) hasFailed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed != nil
}

// done records the outcome of one batch of the open transaction.
func (t *txnReader) done(err error) {
	t.mu.Lock()
	if err != nil && t.failed == nil {
		t.failed = err
	}
	t.outstanding--
	idle := t.outstanding == 0
	t.mu.Unlock()
	if idle {
		select {
		case t.idle <- struct{}{}:
		default:
		}
	}
}

// end waits for every batch of the open transaction, then commits it or,
// after a nack, aborts it.
func (t *txnReader) end(ctx context.Context) error {
	for {
		t.mu.Lock()
		n := t.outstanding
		t.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-t.idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t.mu.Lock()
	failed := t.failed
	t.failed = nil
	t.mu.Unlock()
	t.open = false
	// Every batch of this transaction is acked: a request to end it early
	// is answered by this end, not carried over to the next transaction.
	t.clearEndRequest()
	committed, err := t.reader.cons.EndTxn(ctx, failed == nil)
	switch {
	case err != nil:
		t.met.txnEnded("error")
		return service.ErrNotConnected // the consumer dropped its session; Connect makes a new one
	case committed:
		t.met.txnEnded("committed")
		t.met.committed()
	case failed != nil:
		t.met.txnEnded("aborted")
		t.log.Warnf("kafka_franz: transaction aborted after a failed delivery, consuming again from the committed offsets: %v", failed)
	default:
		t.met.txnEnded("aborted")
		t.log.Infof("kafka_franz: transaction aborted (a partition was revoked or the group generation changed), consuming again from the committed offsets")
	}
	return nil
}

// Close commits an open transaction whose batches are all acked (Benthos
// waits for pending acks before closing, except on a hard stop, which
// leaves them unresolved). An open transaction not ended here is aborted
// by the broker after transaction.timeout or when a session with the same
// id starts.
func (t *txnReader) Close(ctx context.Context) error {
	t.mu.Lock()
	pending := t.outstanding
	t.mu.Unlock()
	if t.open && pending == 0 && !testCrashOnClose.Load() {
		// Benthos closes with a background context: bound the requests.
		ectx, cancel := context.WithTimeout(ctx, closeTimeout)
		defer cancel()
		if err := t.end(ectx); err != nil {
			t.log.Warnf("kafka_franz: open transaction not ended on close (the broker aborts it): %v", err)
		}
	}
	return t.reader.Close(ctx)
}

// closeTimeout bounds the commit of the last transaction on close.
const closeTimeout = 30 * time.Second

// testCrashOnClose, set by tests, makes Close leave the open transaction
// as a killed process would.
var testCrashOnClose atomic.Bool
