package franz

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProducerConfig is the plain form of the output's configuration.
type ProducerConfig struct {
	Client          ClientConfig
	Partitioner     string // murmur2_hash | round_robin | least_backup | manual
	IdempotentWrite bool
	AckReplicas     bool // all in-sync replicas (required by idempotence)
	Compression     string
	Timeout         time.Duration
	// Linger is how long records wait for more before a produce request
	// (the output's linger; franz-go's ProducerLinger).
	Linger time.Duration
	// FlushOnWrite sends a write's records as soon as they are queued
	// instead of after Linger (the output's flush_on_write).
	FlushOnWrite    bool
	MaxMessageBytes int32
	// BrokerWriteMaxBytes bounds one write to a broker connection
	// (socket.request.max.bytes on the broker side).
	BrokerWriteMaxBytes int32
	RackID              string
}

// Partitioners lists the accepted `partitioner` values.
var Partitioners = []string{"murmur2_hash", "round_robin", "least_backup", "manual"}

// Compressions lists the accepted `compression` values.
var Compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// Producer writes records and waits for the brokers' acknowledgement.
type Producer struct {
	conf ProducerConfig
	log  Logger

	mu     sync.Mutex
	cl     *kgo.Client
	closed bool
}

// producerMetadataMinAge is the shortest time between two metadata
// refreshes of a producer (franz-go's default: 5 s; the Java client's
// retry.backoff.ms is 100 ms). A partition that moved, or of a topic the job
// just created (a KRaft broker lists its leader before the leader takes
// produce requests), fails a produce with a retriable error, and franz-go
// retries it after the next refresh: with 5 s between refreshes the
// scale-out job's first bundles waited 5 s in about one start of ten
// (session 22, goroutine dump of a stalled start: every repartition write
// waiting in Produce).
const producerMetadataMinAge = 250 * time.Millisecond

// NewProducer returns an unconnected producer.
func NewProducer(conf ProducerConfig, log Logger) *Producer {
	return &Producer{conf: conf, log: log}
}

func (p *Producer) options() ([]kgo.Opt, error) {
	opts, err := p.conf.Client.Options(p.log)
	if err != nil {
		return nil, err
	}
	switch p.conf.Partitioner {
	case "", "murmur2_hash":
		// Kafka's default: murmur2 of the key, sticky batches for null keys.
		opts = append(opts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	case "round_robin":
		opts = append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	case "least_backup":
		opts = append(opts, kgo.RecordPartitioner(kgo.LeastBackupPartitioner()))
	case "manual":
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	default:
		return nil, fmt.Errorf("partitioner: %q is not one of %v", p.conf.Partitioner, Partitioners)
	}
	var codec kgo.CompressionCodec
	switch p.conf.Compression {
	case "", "none":
		codec = kgo.NoCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("compression: %q is not one of %v", p.conf.Compression, Compressions)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if !p.conf.IdempotentWrite {
		opts = append(opts, kgo.DisableIdempotentWrite())
		if !p.conf.AckReplicas {
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
		}
	} else if !p.conf.AckReplicas {
		return nil, errors.New("ack_replicas: must be true when idempotent_write is true (idempotence needs acks from all in-sync replicas)")
	}
	if p.conf.Timeout > 0 {
		opts = append(opts, kgo.ProduceRequestTimeout(p.conf.Timeout), kgo.RecordDeliveryTimeout(p.conf.Timeout))
	}
	opts = append(opts, kgo.ProducerLinger(p.conf.Linger), kgo.MetadataMinAge(producerMetadataMinAge))
	if p.conf.MaxMessageBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(p.conf.MaxMessageBytes))
	}
	if p.conf.BrokerWriteMaxBytes > 0 {
		if p.conf.BrokerWriteMaxBytes > 1<<30 {
			return nil, fmt.Errorf("broker_write_max_bytes: %d is above the 1GiB maximum", p.conf.BrokerWriteMaxBytes)
		}
		if p.conf.MaxMessageBytes > 0 && p.conf.BrokerWriteMaxBytes < p.conf.MaxMessageBytes {
			return nil, fmt.Errorf("broker_write_max_bytes: %d is below max_message_bytes %d; a batch must fit in one write", p.conf.BrokerWriteMaxBytes, p.conf.MaxMessageBytes)
		}
		opts = append(opts, kgo.BrokerMaxWriteBytes(p.conf.BrokerWriteMaxBytes))
	}
	if p.conf.RackID != "" {
		opts = append(opts, kgo.Rack(p.conf.RackID))
	}
	return opts, nil
}

// Validate checks the configuration without connecting (TLS material,
// SASL, franz-go's limits), so a bad config is refused at start.
func (p *Producer) Validate() error {
	opts, err := p.options()
	if err != nil {
		return err
	}
	if err := kgo.ValidateOpts(opts...); err != nil {
		return fmt.Errorf("kafka client options: %w", err)
	}
	return nil
}

// Connect creates the client and checks that a broker answers.
func (p *Producer) Connect(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.cl != nil {
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	opts, err := p.options()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	if err := Ping(ctx, cl, p.conf.Client); err != nil {
		cl.Close()
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		cl.Close()
		return ErrClosed
	}
	p.cl = cl
	return nil
}

// Produce sends the records and blocks until each is acknowledged or failed.
// The returned slice has one error (or nil) per record, in order.
func (p *Producer) Produce(ctx context.Context, recs []*kgo.Record) ([]error, error) {
	p.mu.Lock()
	cl := p.cl
	p.mu.Unlock()
	if cl == nil {
		return nil, ErrClosed
	}
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	wg.Add(len(recs))
	// mine ends once this write's records are all acknowledged or failed.
	mine, done := context.WithCancel(ctx)
	defer done()
	var left atomic.Int64
	left.Store(int64(len(recs)))
	for i, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				errs[i] = fmt.Errorf("produce to topic %s: %s", r.Topic, redact(err.Error(), p.conf.Client.SASL))
			}
			if left.Add(-1) == 0 {
				done()
			}
			wg.Done()
		})
	}
	if p.conf.FlushOnWrite {
		// Send what is queued now instead of after the linger: this write
		// waits for its acks anyway. Flush is client-wide: it sends the
		// records of concurrent writes at once too, and it waits until no
		// record at all is buffered; with a few writes in flight that is
		// seldom, so the wait stops with this write's own records (mine).
		// A cancelled ctx fails the records still queued, which the wait
		// below collects.
		_ = cl.Flush(mine)
	}
	wg.Wait()
	return errs, nil
}

// Close flushes nothing (Produce already waited) and closes the client.
// Safe to call more than once.
func (p *Producer) Close() {
	p.mu.Lock()
	cl := p.cl
	p.cl, p.closed = nil, true
	p.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}
