package franz

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
	"github.com/miaradia/rides-connect/internal/ownership"
	"github.com/miaradia/rides-connect/internal/ratelog"
)

// ConsumerConfig is the plain form of the input's configuration.
type ConsumerConfig struct {
	Client                 ClientConfig
	Topics                 TopicSpec
	RegexpInclude          []string
	RegexpExclude          []string
	Group                  string
	StartOffset            string // earliest | latest | committed
	CheckpointLimit        int
	CommitPeriod           time.Duration
	FetchMaxBytes          int32
	FetchMaxPartitionBytes int32
	FetchMaxWait           time.Duration
	FetchMinBytes          int32
	IsolationLevel         string // read_uncommitted (default) | read_committed
	RackID                 string
	InstanceID             string
	SessionTimeout         time.Duration
	RebalanceTimeout       time.Duration
	HeartbeatInterval      time.Duration
	// Balancer: "" or "cooperative_sticky" (franz-go's default),
	// "single_owner" (SingleOwnerBalancer).
	Balancer       string
	FailOnDataLoss bool
	// EmptyNotices: Poll returns a notice (Chunk.Notice) for each owned
	// partition read to its end without a record since its assignment
	// (empty_notices.go). Consumer group mode only.
	EmptyNotices bool
	// EmptyNoticeDelay: a partition is noticed only once this long has
	// passed since its epoch began (its assignment, or the last rewind)
	// with nothing delivered, so a partition whose first records come a
	// little after the others' is not announced empty meanwhile; 0: as soon
	// as it is read to its end.
	EmptyNoticeDelay time.Duration
	// CaughtUpNotices: Poll also returns, at once, a caught-up notice
	// (Chunk.Notice and Chunk.CaughtUp, no Empty) for each owned partition
	// read to its end without a record since its epoch began, whatever
	// EmptyNoticeDelay: a stage keeping per-partition state loads it then,
	// not only with the partition's next record, which may never come.
	// Consumer group mode only.
	CaughtUpNotices bool
	// Now and AfterFunc are the clock and timer of EmptyNoticeDelay
	// (time.Now and time.AfterFunc when nil).
	Now       func() time.Time
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Txn, when set, makes the consumer a transactional session (txn.go).
	Txn *TxnConfig
	// Purge, when set, deletes the records below committed offsets (purge.go).
	Purge *PurgeConfig
}

// ConsumerMetrics receives what the consumer observes. All methods must be
// safe for concurrent use.
type ConsumerMetrics interface {
	Fetched(topic string, partition int32, records, bytes int)
	Lag(topic string, partition int32, lag int64)
	PausedPartitions(n int)
	Committed()
	OffsetReset(topic string, partition int32)
}

// ErrClosed is returned by Poll once the consumer is closed.
var ErrClosed = errors.New("kafka consumer closed")

// ErrNotConnected is returned by Poll before Connect succeeded.
var ErrNotConnected = errors.New("kafka consumer not connected")

// Chunk is a run of consecutive records of one partition handed downstream
// as a unit. Call Ack once every record of it is delivered.
type Chunk struct {
	Topic     string
	Partition int32
	Records   []*kgo.Record
	// HighWatermark is the partition's end offset when the records were
	// fetched: a record's lag is HighWatermark - Offset - 1.
	HighWatermark int64
	// TopicPartitions is the number of partitions of Topic, 0 if unknown
	// (known in consumer group mode, from the offsets listed at assignment).
	TopicPartitions int32
	// Empty lists the partitions of Topic this consumer owns that have
	// handed nothing downstream since they were assigned and had nothing to
	// read when last seen (empty_partitions.go); nil when there are none.
	Empty []int32
	// Prev is the offset of the record handed downstream just before
	// Records[0] from the same partition, -1 if none since the partition was
	// assigned. It chains a partition's chunks, so a stage that receives them
	// out of order (several pipeline threads) can restore offset order.
	Prev int64
	// Epoch changes every time this consumer is (re)assigned the partition
	// or its position is rewound (a transaction abort): a stage keeping
	// per-partition state reloads it when the epoch changes.
	Epoch int64
	// Start is the offset this consumer resumed the partition from in
	// this epoch: the group's committed offset, fetched at assignment or
	// reset to after a transaction abort (-1 when there was none, or
	// without a group). A stage reading the partition's state back from a
	// changelog compares the state's position with it: offsets below the
	// first record delivered may be commit markers or aborted records.
	Start int64
	// Commit is what that committed offset was (commit_kind.go):
	// CommitNone, CommitStart (only latest's start pin) or CommitProgress.
	Commit string
	// Generation is the consumer group generation at which this consumer
	// was assigned the partition (-1 without a group). It grows from one
	// owner of the partition to the next, and stays while the consumer
	// keeps the partition across rebalances: a fencing token for what the
	// owner writes elsewhere (a Delta txn).
	Generation int32
	// Notice: no records; the partition was read to its end without a
	// record delivered in this epoch (Empty = {Partition}; empty_notices.go).
	Notice bool
	// CaughtUp: with Notice, the caught-up notice (CaughtUpNotices): it
	// comes without EmptyNoticeDelay and announces nothing (Empty nil).
	CaughtUp bool
	ack      func()
	tr       *Tracker[*kgo.Record]
}

// Live reports whether the chunk's partition is still ours. Once it is
// revoked or lost, the chunk must not be handed downstream: its records are
// read again by the partition's next owner, and acking them does nothing.
func (c Chunk) Live() bool {
	return c.tr == nil || !c.tr.Closed()
}

// Ack releases the chunk: its offsets become committable once every earlier
// chunk of the partition is acked too. Calling it twice is harmless.
func (c Chunk) Ack() {
	if c.ack != nil {
		c.ack()
	}
}

type topicPartition struct {
	topic     string
	partition int32
}

// Consumer reads records with franz-go and commits, per partition, only the
// offsets below which every record was acknowledged.
type Consumer struct {
	conf ConsumerConfig
	log  Logger
	met  ConsumerMetrics
	// instanceFenced rate-limits the log of FENCED_INSTANCE_ID
	// (instance_fence.go).
	instanceFenced ratelog.Limiter
	// owners is the process's record of owned partitions; own is this
	// consumer's part of it, registered at its first group assignment
	// (internal/ownership; tumbling_window stage full reads it).
	owners *ownership.Record
	own    *ownership.Owner

	mu   sync.Mutex
	cl   *kgo.Client
	sess *kgo.GroupTransactSession // transactional mode only
	// txnFail is the first record of the open transaction that failed to
	// produce (ProduceTxn does not wait): EndTxn then aborts.
	txnFailMu sync.Mutex
	txnFail   error
	groupCl   *kgo.Client // the client the group callbacks were given (see onAssigned)
	trackers  map[topicPartition]*Tracker[*kgo.Record]
	assigned  map[topicPartition]bool // group mode: partitions we own now
	paused    map[topicPartition]bool
	// idle is the partitions paused only because they were read to their
	// end while the others waited at checkpoint_limit (resume_idle.go).
	idle map[topicPartition]bool
	next map[topicPartition]int64 // offset expected next, for gap checks
	// pos and ends say which partitions have records waiting (see Lagging):
	// the next offset to fetch, and the end of the log (high watermark, or
	// last stable offset with read_committed) as last seen.
	pos  map[topicPartition]int64
	ends map[topicPartition]int64
	// topicParts is each topic's partition count, from the offsets listed at
	// assignment (consumer group mode), so downstream stages know which
	// partitions exist before all of them delivered (see Chunk).
	topicParts map[string]int32
	// last is the offset of the last record handed downstream per partition
	// (see Chunk.Prev); forgotten when the partition is dropped.
	last map[topicPartition]int64
	// epochs is each partition's assignment epoch (Chunk.Epoch), from
	// epochSeq, which only grows.
	epochs   map[topicPartition]int64
	epochSeq int64
	// starts is the committed offset each partition resumed from in its
	// epoch (Chunk.Start), absent when unknown.
	starts map[topicPartition]int64
	// commits is each assigned partition's commit kind (Chunk.Commit),
	// absent when unknown (read as CommitNone).
	commits map[topicPartition]string
	// gens is the group generation at which each partition was assigned
	// (Chunk.Generation).
	gens map[topicPartition]int32
	// noticed is the epoch each partition was last noticed empty at, and
	// pollWake ends the Poll waiting for records when a notice is due
	// (empty_notices.go).
	noticed  map[topicPartition]int64
	caughtUp map[topicPartition]int64 // as noticed, for caught-up notices
	pollWake context.CancelFunc
	// epochAt is when each partition's epoch began, and noticeTimer wakes
	// the waiting Poll when a notice held back by EmptyNoticeDelay is due.
	epochAt     map[topicPartition]time.Time
	noticeTimer func() bool
	// marks is, in transactional mode, the last record per partition below
	// which everything was acked: what the transaction commits.
	marksMu sync.Mutex
	marks   map[topicPartition]*kgo.Record
	// txnOffsets is what the transaction being ended commits (onlyAcked),
	// purged once it has committed.
	txnOffsets map[topicPartition]int64
	purge      *purger // nil unless conf.Purge
	// barrier is flushed before offsets commit; held are the acked records
	// waiting for it (commit_barrier.go).
	barrier *commitbarrier.Barrier
	// proof is when this consumer last knew it was a member of its group
	// (member_check.go).
	proofMu sync.Mutex
	proof   time.Time
	// unconfirm removes this consumer's membership check from the barrier.
	unconfirm func()
	held      heldMarks
	fatal     error
	closed    bool
	abandon   bool // test hook: skip the commit on revoke (a crash)
	// afterAdjust is a test hook run when adjustOffsets has checked the
	// committed offsets, before the first fetch (to move the log start in
	// between, the race that resetOutOfRange handles).
	afterAdjust func()
}

// NewConsumer validates nothing network-related; Connect does that.
func NewConsumer(conf ConsumerConfig, log Logger, met ConsumerMetrics) *Consumer {
	if conf.CheckpointLimit <= 0 {
		conf.CheckpointLimit = 1024
	}
	return &Consumer{
		conf:     conf,
		log:      log,
		met:      met,
		owners:   ownership.Process,
		trackers: map[topicPartition]*Tracker[*kgo.Record]{},
		assigned: map[topicPartition]bool{},
		paused:   map[topicPartition]bool{},
		idle:     map[topicPartition]bool{},
		next:     map[topicPartition]int64{},
		pos:      map[topicPartition]int64{},
		ends:     map[topicPartition]int64{},

		topicParts: map[string]int32{},
		last:       map[topicPartition]int64{},
		epochs:     map[topicPartition]int64{},
		starts:     map[topicPartition]int64{},
		commits:    map[topicPartition]string{},
		gens:       map[topicPartition]int32{},
		noticed:    map[topicPartition]int64{},
		caughtUp:   map[topicPartition]int64{},
		epochAt:    map[topicPartition]time.Time{},
		marks:      map[topicPartition]*kgo.Record{},
		txnOffsets: map[topicPartition]int64{},
		purge:      newPurger(conf.Purge),
		barrier:    commitbarrier.Process,
	}
}

// Connect creates the client and checks that a broker answers. On failure the
// client is closed so a retry starts clean.
func (c *Consumer) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.cl != nil {
		c.mu.Unlock()
		return nil
	}
	if c.conf.Group != "" && c.unconfirm == nil {
		// Processors ask before they write state (member_check.go).
		c.unconfirm = c.barrier.OnConfirmFor(c.confirmForBarrier, c.reads)
	}
	if c.conf.Group != "" && c.own == nil {
		// Known from now on, owning nothing until the group assigns.
		c.own = c.owners.Owner()
		for _, t := range c.conf.Topics.Topics {
			c.own.Watch(t)
		}
	}
	c.mu.Unlock()

	opts, err := c.options()
	if err != nil {
		return err
	}
	var cl *kgo.Client
	var sess *kgo.GroupTransactSession
	if c.conf.Txn != nil {
		if sess, err = kgo.NewGroupTransactSession(opts...); err != nil {
			return fmt.Errorf("kafka transactional client: %w", err)
		}
		cl = sess.Client()
	} else if cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	// Publish the client before the group can call back (adjustOffsets
	// needs it), and take it back if the brokers do not answer.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cl.Close()
		return ErrClosed
	}
	c.cl, c.sess = cl, sess
	c.mu.Unlock()
	err = Ping(ctx, cl, c.conf.Client)
	if err == nil && sess != nil {
		err = fencePrevious(ctx, cl, c.conf.Txn.ID)
	}
	if err != nil {
		c.mu.Lock()
		c.cl, c.sess = nil, nil
		c.mu.Unlock()
		cl.Close()
		return err
	}
	if c.conf.Group != "" && c.conf.Txn == nil {
		go c.releaseLoop(cl)
	}
	return nil
}

func (c *Consumer) client() *kgo.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cl
}

// Poll waits for records and returns them as chunks of at most
// checkpoint_limit records, tracked for commit. It returns ErrClosed after
// Close, a fatal error (data loss with fail_on_data_loss), or the first fetch
// error when nothing was fetched.
func (c *Consumer) Poll(ctx context.Context) ([]Chunk, error) {
	c.mu.Lock()
	cl, closed := c.cl, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case cl == nil:
		return nil, ErrNotConnected
	}
	pctx := ctx
	if c.noticesOn() {
		var notices []Chunk
		if notices, pctx = c.awaitNotices(ctx); len(notices) > 0 {
			return notices, nil
		}
		defer c.stopWaking()
	}
	fetches := cl.PollFetches(pctx)
	// BlockRebalanceOnPoll: no revoke can run until the records below are
	// tracked, so every chunk returned belongs to a partition we own, and
	// a later revoke closes its tracker (see Chunk.Live).
	defer cl.AllowRebalance()
	if fetches.IsClientClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil && fetches.NumRecords() == 0 {
		// Records returned as ctx expired are kept: franz-go's position is
		// already past them, and nothing else would deliver them.
		return nil, err
	}
	var firstErr error
	for _, fe := range fetches.Errors() {
		if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
			continue
		}
		var loss *kgo.ErrDataLoss
		if errors.As(fe.Err, &loss) {
			c.dataLoss(loss.Topic, loss.Partition,
				fmt.Sprintf("the broker lost records: consumed to offset %d", loss.ConsumedTo),
				fmt.Sprintf("resumed at offset %d", loss.ResetTo))
			continue
		}
		if errors.Is(fe.Err, kerr.OffsetOutOfRange) {
			// Only with start_offset: committed (no automatic reset).
			c.resetOutOfRange(ctx, cl, fe.Topic, fe.Partition)
			continue
		}
		// franz-go reports client-wide errors (the group's, a closed
		// client) as a fetch without a topic.
		where := fmt.Sprintf("topic %s partition %d", fe.Topic, fe.Partition)
		if fe.Topic == "" {
			where = "consumer group or client"
		}
		c.log.Warnf("kafka: fetch error (%s): %s", where, redact(fe.Err.Error(), c.conf.Client.SASL))
		if firstErr == nil {
			firstErr = fmt.Errorf("kafka fetch (%s): %s", where, redact(fe.Err.Error(), c.conf.Client.SASL))
		}
	}

	c.checkGaps(ctx, cl, fetches)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fatal != nil {
		return nil, c.fatal
	}
	var chunks []Chunk
	grouped := c.conf.Group != ""
	empty := c.emptyPartitionsLocked(fetches)
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		tp := topicPartition{p.Topic, p.Partition}
		if grouped && !c.assigned[tp] {
			// Fetched just before a revoke: never acked, so never committed;
			// the partition's next owner reads these records again.
			return
		}
		tr, gen, start := c.partitionStateLocked(tp)
		commit := c.commitLocked(tp)
		bytes := 0
		for _, r := range p.Records {
			bytes += len(r.Key) + len(r.Value)
		}
		last := p.Records[len(p.Records)-1]
		c.next[tp] = last.Offset + 1
		c.pos[tp] = last.Offset + 1
		end := p.HighWatermark
		if c.conf.IsolationLevel == "read_committed" {
			end = p.LastStableOffset
		}
		c.ends[tp] = max(c.ends[tp], end)
		if c.met != nil {
			c.met.Fetched(p.Topic, p.Partition, len(p.Records), bytes)
			c.met.Lag(p.Topic, p.Partition, max(p.HighWatermark-(last.Offset+1), 0))
		}
		prev, ok := c.last[tp]
		if !ok {
			prev = -1
		}
		c.last[tp] = last.Offset
		epoch, ok := c.epochs[tp]
		if !ok {
			c.newEpochLocked(tp) // explicit partitions: no assignment callback
			epoch = c.epochs[tp]
		}
		for recs := p.Records; len(recs) > 0; {
			n := min(len(recs), c.conf.CheckpointLimit)
			chunk := recs[:n:n]
			recs = recs[n:]
			tok := tr.Track(chunk[n-1], n)
			chunks = append(chunks, Chunk{
				Topic: p.Topic, Partition: p.Partition, Records: chunk,
				HighWatermark: p.HighWatermark, TopicPartitions: c.topicParts[p.Topic], Empty: empty[p.Topic], Prev: prev, Epoch: epoch, Start: start, Commit: commit, Generation: gen,
				ack: func() { c.ack(cl, tp, tr, tok) },
				tr:  tr,
			})
			prev = chunk[n-1].Offset
		}
		if tr.Pending() >= c.conf.CheckpointLimit && !c.paused[tp] {
			c.paused[tp] = true
			cl.PauseFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
			c.reportPausedLocked()
		}
	})
	c.pauseIdleLocked(cl)
	chunks = append(chunks, c.noticesLocked()...)
	if len(chunks) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return chunks, nil
}

// partitionStateLocked (c.mu held) is what a chunk of tp carries besides its
// records: the partition's tracker (made on first use), the group generation
// at which it was assigned and the offset its epoch resumed from (-1: none).
func (c *Consumer) partitionStateLocked(tp topicPartition) (tr *Tracker[*kgo.Record], gen int32, start int64) {
	tr = c.trackers[tp]
	if tr == nil {
		tr = &Tracker[*kgo.Record]{}
		c.trackers[tp] = tr
	}
	gen, start = -1, -1
	if g, ok := c.gens[tp]; ok {
		gen = g
	}
	if s, ok := c.starts[tp]; ok {
		start = s
	}
	return tr, gen, start
}

func (c *Consumer) ack(cl *kgo.Client, tp topicPartition, tr *Tracker[*kgo.Record], tok Token[*kgo.Record]) {
	tr.AckThen(tok, func(rec *kgo.Record) {
		// In a transaction the reader marks what it delivered (MarkTxn):
		// a chunk may be delivered over several transactions.
		if c.conf.Group != "" && c.conf.Txn == nil {
			c.markAcked(cl, tp, rec)
		}
	})
	if tr.Pending() >= c.conf.CheckpointLimit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused[tp] && c.trackers[tp] == tr {
		delete(c.paused, tp)
		resume := map[string][]int32{tp.topic: {tp.partition}}
		c.takeIdleLocked(resume)
		cl.ResumeFetchPartitions(resume)
		c.reportPausedLocked()
	}
}

func (c *Consumer) reportPausedLocked() {
	if c.met != nil {
		c.met.PausedPartitions(len(c.paused))
	}
}

// Paused reports whether the partition is paused by checkpoint_limit: no
// more of its records arrive until some are acked.
func (c *Consumer) Paused(topic string, partition int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused[topicPartition{topic, partition}]
}

// Pending returns the number of un-acked records per "topic/partition".
func (c *Consumer) Pending() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for tp, tr := range c.trackers {
		out[fmt.Sprintf("%s/%d", tp.topic, tp.partition)] = tr.Pending()
	}
	return out
}

// Close commits what is acknowledged (through the revoke on leaving the
// group) and closes the client. Safe to call more than once.
func (c *Consumer) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	cl, sess := c.cl, c.sess
	if c.own != nil {
		c.own.Release() // a closed consumer owns nothing, whatever the group says
	}
	unconfirm := c.unconfirm
	c.mu.Unlock()
	if unconfirm != nil {
		defer unconfirm() // after the last commit's flush
	}
	switch {
	case sess != nil:
		// An open transaction is aborted by the broker (the next session
		// with this transactional id, or the transaction timeout).
		sess.Close()
	case cl != nil:
		cl.Close()
	}
}
