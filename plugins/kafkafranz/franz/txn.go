package franz

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnConfig turns the consumer into a transactional consume -> produce
// session (KIP-447, franz-go GroupTransactSession): records produced through
// ProduceTxn and the offsets of the records acked downstream commit together,
// or not at all.
type TxnConfig struct {
	ID      string        // transactional.id; stable per replica
	Timeout time.Duration // transaction.timeout.ms
	// MaxMessageBytes is the largest record produced in the transactions
	// (ProducerBatchMaxBytes); 0: franz-go's default, 1 000 012 bytes.
	MaxMessageBytes int32
}

// txnMetadataMinAge is the shortest time between two metadata refreshes of
// a transactional consumer (franz-go's default: 5 s).
const txnMetadataMinAge = 250 * time.Millisecond

// ErrTxnNotReady is returned by ProduceTxn when no transaction is open (the
// consumer is not connected, or a write arrived outside a transaction).
var ErrTxnNotReady = errors.New("no Kafka transaction is open on the input")

// txnOptions replaces the commit machinery of options() in transactional
// mode: offsets are only committed inside transactions, so no autocommit.
func (c *Consumer) txnOptions() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.TransactionalID(c.conf.Txn.ID),
		kgo.RecordPartitioner(txnPartitioner{}),
		// franz-go's default linger (10 ms) stays: ProducerTxn does not wait
		// for the brokers and EndTxn flushes, so it costs read_committed
		// consumers no latency and gathers several batches' records (stage
		// 1's partials and markers) into one produce request.
		// A transactional input may consume a topic the job itself creates
		// at start (the scale-out config's G-repartition, created by stage
		// 1's output): with franz-go's default 5 s between metadata
		// refreshes, the consumer would not see it for up to 5 s.
		kgo.MetadataMinAge(txnMetadataMinAge),
	}
	if c.conf.Txn.Timeout > 0 {
		opts = append(opts, kgo.TransactionTimeout(c.conf.Txn.Timeout))
	}
	if c.conf.Txn.MaxMessageBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(c.conf.Txn.MaxMessageBytes))
	}
	return opts
}

// fencePrevious initialises the session's producer id at connect, as Kafka
// Streams' initTransactions does: the broker then fences the previous
// session of this transactional id and aborts its open transaction.
// franz-go would do it at the first transaction only, and a restarted
// replica with nothing to read begins none: the transaction its killed
// predecessor left open then held every read_committed reader of the
// topics it wrote (the scale-out job's stage 2) until transaction.timeout
// (a 3-replica test stalled a minute in 2 of 5 runs).
func fencePrevious(ctx context.Context, cl *kgo.Client, id string) error {
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("kafka transactional id %q: initialising the producer id (fencing its previous session): %w", id, err)
	}
	return nil
}

// BeginTxn opens a transaction. Records handed downstream from now on are
// produced (ProduceTxn) and committed (EndTxn) in it.
func (c *Consumer) BeginTxn() error {
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess == nil {
		return ErrTxnNotReady
	}
	return sess.Begin()
}

// ProduceTxn hands records to the open transaction and returns without
// waiting for the brokers, as Kafka Streams does: EndTxn flushes them and
// aborts the transaction if any failed, so an ack after ProduceTxn can never
// commit offsets past a record that did not land. Records of one partition
// are sent in the order of the calls (franz-go keeps it), so a caller that
// calls in order keeps its order. errs is all nil; a failure shows at
// EndTxn. It must not run concurrently with EndTxn (the reader guarantees
// it: a transaction ends only once every batch delivered in it is acked, and
// an output acks after ProduceTxn returned).
func (c *Consumer) ProduceTxn(_ context.Context, recs []*kgo.Record) (errs []error, err error) {
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess == nil {
		return nil, ErrTxnNotReady
	}
	// Not the write's context: a record still buffered when that ends
	// would fail, and abort the transaction for nothing.
	for _, r := range recs {
		sess.Produce(context.Background(), r, c.txnProduced)
	}
	return make([]error, len(recs)), nil
}

// txnProduced keeps the first produce failure of the open transaction.
// ErrAborting is the outcome of records an abort dropped: the transaction
// is aborting already.
func (c *Consumer) txnProduced(r *kgo.Record, err error) {
	if err == nil || errors.Is(err, kgo.ErrAborting) {
		return
	}
	c.txnFailMu.Lock()
	if c.txnFail == nil {
		c.txnFail = err
	}
	c.txnFailMu.Unlock()
}

// txnTimeout is the transaction timeout the broker applies (franz-go's
// default when none is configured).
func (c *Consumer) txnTimeout() time.Duration {
	if c.conf.Txn.Timeout > 0 {
		return c.conf.Txn.Timeout
	}
	return defaultTxnTimeout
}

// defaultTxnTimeout is franz-go's TransactionTimeout default.
const defaultTxnTimeout = 40 * time.Second

// takeTxnFailure returns and forgets the open transaction's first produce
// failure.
func (c *Consumer) takeTxnFailure() error {
	c.txnFailMu.Lock()
	defer c.txnFailMu.Unlock()
	err := c.txnFail
	c.txnFail = nil
	return err
}

// Client returns the session's client (topic checks, admin requests); nil
// before Connect.
func (c *Consumer) Client() *kgo.Client {
	return c.client()
}

// EndTxn commits the open transaction with the offsets of the records acked
// since the last commit, or aborts it. It commits only when commit is true,
// no partition was revoked or lost meanwhile, and the group generation is
// still ours (a zombie whose partitions moved is refused by the broker).
// When it does not commit, the consumer is rewound to the committed offsets:
// every record fetched after them is dropped (its chunks turn stale, see
// Chunk.Live) and read again, and every assigned partition gets a new epoch.
// A returned error leaves the session unusable: the client is closed and the
// next Connect makes a new one.
func (c *Consumer) EndTxn(ctx context.Context, commit bool) (committed bool, err error) {
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess == nil {
		return false, ErrTxnNotReady
	}
	if commit {
		// The offsets commit with the transaction: state kept for the
		// barrier (commit_barrier.go) for the records of the topics this
		// consumer reads must be durable first. Every batch of the
		// transaction is acked by now (see MarkTxn), so the flush covers
		// every mark it commits.
		if err := c.barrier.FlushFor(ctx, c.readTopics()); err != nil {
			c.log.Warnf("kafka: state not made durable, aborting the transaction: %v", err)
			commit = false
		}
	}
	if commit {
		// Every record of the transaction has its outcome after the flush
		// (ProduceTxn does not wait for them).
		// Bounded by the transaction timeout: past it the broker has aborted
		// the transaction anyway (a broker that keeps refusing the records
		// would otherwise hold the input here for good, silently).
		fctx, cancel := context.WithTimeout(ctx, c.txnTimeout())
		err := sess.Client().Flush(fctx)
		cancel()
		if err != nil {
			c.log.Errorf("kafka: the transaction's records were not all produced within %v, reconnecting with a new session: %v", c.txnTimeout(), err)
			c.dropSession(sess) // as after a failed End: the broker aborts it
			return false, fmt.Errorf("kafka transaction: flush: %w", err)
		}
	}
	if err := c.takeTxnFailure(); err != nil && commit {
		c.log.Warnf("kafka: a record of the transaction was not produced, aborting it: %v", err)
		commit = false
	}
	c.marksMu.Lock()
	clear(c.txnOffsets)
	c.marksMu.Unlock()
	committed, err = sess.End(kgo.PreTxnCommitFnContext(ctx, c.onlyAcked), kgo.TransactionEndTry(commit))
	c.takeTxnFailure() // a failure of this transaction, which has ended
	if err != nil {
		c.log.Errorf("kafka: transaction end failed, reconnecting with a new session: %v", err)
		c.dropSession(sess)
		return false, fmt.Errorf("kafka transaction: %w", err)
	}
	if !committed {
		c.rewind()
		return false, nil
	}
	c.marksMu.Lock()
	offsets := len(c.txnOffsets) > 0
	c.marksMu.Unlock()
	if offsets {
		// The broker took this generation's offsets (TxnOffsetCommit): proof
		// of membership, as an accepted autocommit is. Without it a
		// transactional consumer's proof aged past half the session timeout
		// and every Confirm of the process (a stage local's check before it
		// passes dead letters on, each flush) asked the coordinator.
		c.noteMember()
	}
	c.marksMu.Lock()
	offs := maps.Clone(c.txnOffsets)
	c.marksMu.Unlock()
	// Committed offsets are of records acked downstream (onlyAcked): what
	// a processor kept to resend for them is delivered (commitbarrier.OnAcked;
	// stage merge forgets its retained emissions).
	for tp, next := range offs {
		c.barrier.Acked(tp.topic, tp.partition, next)
	}
	if c.purge != nil {
		c.purgeCommitted(sess.Client(), offs)
	}
	return true, nil
}

// MarkTxn records that rec was delivered and acked: the open transaction
// commits the offset after the highest record marked per partition. Marks
// may come in any order: a transaction ends only once every batch handed
// out in it is acked, and a partition's batches are handed out in offset
// order, so the highest mark is then the end of a delivered prefix.
func (c *Consumer) MarkTxn(rec *kgo.Record) {
	c.marksMu.Lock()
	defer c.marksMu.Unlock()
	tp := topicPartition{rec.Topic, rec.Partition}
	if cur := c.marks[tp]; cur == nil || cur.Offset < rec.Offset {
		c.marks[tp] = rec
	}
}

// onlyAcked restricts the transaction's offset commit to records acked
// downstream: franz-go would commit everything polled, including records
// still buffered in the input (batching, poll rounds) that were never
// delivered. Partitions with nothing acked keep their committed offset.
func (c *Consumer) onlyAcked(req *kmsg.TxnOffsetCommitRequest) error {
	c.marksMu.Lock()
	defer c.marksMu.Unlock()
	topics := req.Topics[:0]
	for _, t := range req.Topics {
		parts := t.Partitions[:0]
		for _, p := range t.Partitions {
			rec := c.marks[topicPartition{t.Topic, p.Partition}]
			if rec == nil {
				continue
			}
			p.Offset, p.LeaderEpoch = rec.Offset+1, rec.LeaderEpoch
			c.txnOffsets[topicPartition{t.Topic, p.Partition}] = p.Offset
			parts = append(parts, p)
		}
		if len(parts) > 0 {
			t.Partitions = parts
			topics = append(topics, t)
		}
	}
	req.Topics = topics
	return nil
}

// rewind forgets what was fetched after the committed offsets (franz-go
// moved the fetch positions back to them): trackers close so buffered
// chunks are dropped, and every assigned partition gets a new epoch.
func (c *Consumer) rewind() {
	c.mu.Lock()
	cl := c.cl
	c.mu.Unlock()
	var committed map[string]map[int32]kgo.EpochOffset
	if cl != nil {
		// What franz-go rewound to (Chunk.Start); read before taking c.mu,
		// so franz-go's group lock is never awaited under ours.
		committed = cl.CommittedOffsets()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp, tr := range c.trackers {
		tr.Close()
		delete(c.trackers, tp)
	}
	c.marksMu.Lock()
	clear(c.marks)
	c.marksMu.Unlock()
	clear(c.next)
	// A partition that delivered nothing did not move: its position stays
	// known, so an empty one is noticed again in its new epoch.
	for tp := range c.pos {
		if _, delivered := c.last[tp]; delivered {
			delete(c.pos, tp)
		}
	}
	clear(c.last)
	if len(c.paused) > 0 || len(c.idle) > 0 {
		resume := map[string][]int32{}
		for tp := range c.paused {
			resume[tp.topic] = append(resume[tp.topic], tp.partition)
		}
		clear(c.paused)
		c.takeIdleLocked(resume)
		if c.cl != nil { // else the session is gone, and its pauses with it
			c.cl.ResumeFetchPartitions(resume)
		}
		c.reportPausedLocked()
	}
	clear(c.starts)
	for tp := range c.assigned {
		c.newEpochLocked(tp)
		if o, ok := committed[tp.topic][tp.partition]; ok && o.Offset >= 0 {
			c.starts[tp] = o.Offset
		}
	}
}

// dropSession closes a session in a failed state so Connect builds anew.
func (c *Consumer) dropSession(sess *kgo.GroupTransactSession) {
	c.mu.Lock()
	if c.sess != sess {
		c.mu.Unlock()
		return
	}
	c.sess, c.cl = nil, nil
	c.mu.Unlock()
	c.rewind()
	sess.Close()
}

// newEpochLocked gives tp a new assignment epoch (see Chunk.Epoch).
func (c *Consumer) newEpochLocked(tp topicPartition) {
	c.epochSeq++
	c.epochs[tp] = c.epochSeq
	c.epochAt[tp] = c.now()
}

// manualPartition marks a record whose Partition field is to be used as is.
type manualPartition struct{}

// WithManualPartition makes the transactional client send r to r.Partition
// (the output's `partitioner: manual`); other records are hashed by key.
func WithManualPartition(r *kgo.Record) {
	ctx := r.Context
	if ctx == nil {
		ctx = context.Background()
	}
	r.Context = context.WithValue(ctx, manualPartition{}, true)
}

func isManual(r *kgo.Record) bool {
	return r.Context != nil && r.Context.Value(manualPartition{}) != nil
}

// txnPartitioner is the session client's partitioner: one client produces
// for every output in the transaction, each with its own partitioner.
type txnPartitioner struct{}

func (txnPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &txnTopicPartitioner{hash: kgo.StickyKeyPartitioner(nil).ForTopic(topic)}
}

type txnTopicPartitioner struct{ hash kgo.TopicPartitioner }

func (p *txnTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return isManual(r) || p.hash.RequiresConsistency(r)
}

func (p *txnTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if isManual(r) {
		return int(r.Partition)
	}
	return p.hash.Partition(r, n)
}

func (p *txnTopicPartitioner) OnNewBatch() {
	if nb, ok := p.hash.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

// CaughtUp reports whether no assigned partition has more than
// checkpoint_limit records between its fetch position and the log end last
// seen (the last stable offset with read_committed): the consumer follows a
// live stream rather than a backlog. Partitions not fetched yet count as
// caught up.
func (c *Consumer) CaughtUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp, end := range c.ends {
		if c.conf.Group != "" && !c.assigned[tp] {
			continue
		}
		if pos, ok := c.pos[tp]; ok && end-pos > int64(c.conf.CheckpointLimit) {
			return false
		}
	}
	return true
}
