package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/clicmd"
	"github.com/miaradia/rides-connect/internal/health/healthsvc"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// writer adapts franz.Producer to service.BatchOutput: it interpolates each
// message into a record and reports failures per message.
type writer struct {
	prod        *franz.Producer
	client      franz.ClientConfig
	label       string
	create      franz.TopicCreate
	staticTopic string // "" when the topic is interpolated
	checked     bool   // the static topic was found (or created) once
	health      *healthsvc.Output
	log         *service.Logger
	topic, key  *service.InterpolatedString
	partition   *service.InterpolatedString
	timestampMs *service.InterpolatedString
	meta        *service.MetadataFilter
	records     *service.MetricCounter
	idem        *idempotency // nil = at-least-once (output_idempotency.go)
	txn         *txnHandle   // nil = own producer; else the input's transaction (output_txn.go)
	txnLabel    string
	txnEndKey   string // transaction.end_early_on_metadata (output_txn.go)
}

func writerFromParsed(conf *service.ParsedConfig, mgr *service.Resources) (*writer, error) {
	client, err := clientConfigFromParsed(conf)
	if err != nil {
		return nil, err
	}
	f := &fields{conf: conf}
	pc := franz.ProducerConfig{
		Client:          client,
		Partitioner:     f.str(fieldPartitioner),
		IdempotentWrite: f.boolean(fieldIdempotentWrite),
		AckReplicas:     f.boolean(fieldAckReplicas),
		Compression:     f.str(fieldCompression),
		Timeout:         f.duration(fieldTimeout),
		Linger:          f.duration(fieldLinger),
		FlushOnWrite:    f.boolean(fieldFlushOnWrite),
		RackID:          f.str(fieldRackID),
	}
	maxBytes, writeMax := f.str(fieldMaxMessageBytes), f.str(fieldBrokerWriteMax)
	if f.err != nil {
		return nil, f.err
	}
	if pc.MaxMessageBytes, err = parseBytes(fieldMaxMessageBytes, maxBytes); err != nil {
		return nil, err
	}
	if pc.BrokerWriteMaxBytes, err = parseBytes(fieldBrokerWriteMax, writeMax); err != nil {
		return nil, err
	}
	if pc.IdempotentWrite && !pc.AckReplicas {
		return nil, fmt.Errorf("%s: must be true when %s is true", fieldAckReplicas, fieldIdempotentWrite)
	}
	prod := franz.NewProducer(pc, mgr.Logger())
	if err := prod.Validate(); err != nil {
		return nil, err
	}
	w := &writer{
		log:     mgr.Logger(),
		prod:    prod,
		client:  client,
		label:   mgr.Label(),
		records: mgr.Metrics().NewCounter("kafka_output_records_total", "topic"),
	}
	if w.topic, err = conf.FieldInterpolatedString(fieldTopic); err != nil {
		return nil, err
	}
	var static bool
	if w.staticTopic, static = w.topic.Static(); static && strings.TrimSpace(w.staticTopic) == "" {
		return nil, fmt.Errorf("%s: required: name the topic to write to", fieldTopic)
	}
	ct := &fields{conf: conf}
	w.create = franz.TopicCreate{
		Enabled:           ct.boolean(fieldCreateTopic, "enabled"),
		Partitions:        int32(ct.integer(fieldCreateTopic, "partitions")),
		ReplicationFactor: int16(ct.integer(fieldCreateTopic, "replication_factor")),
		Configs:           ct.strMap(fieldCreateTopic, "configs"),
		PartitionsOf:      ct.str(fieldCreateTopic, "partitions_of"),
	}
	if ct.err != nil {
		return nil, ct.err
	}
	if w.create.Partitions < 1 {
		return nil, fmt.Errorf("%s.partitions: must be at least 1, got %d", fieldCreateTopic, w.create.Partitions)
	}
	if w.create.ReplicationFactor == 0 || w.create.ReplicationFactor < -1 {
		return nil, fmt.Errorf("%s.replication_factor: must be at least 1, or -1 for the broker default, got %d", fieldCreateTopic, w.create.ReplicationFactor)
	}
	if w.create.Enabled && w.staticTopic == "" {
		return nil, fmt.Errorf("%s.enabled: needs a static %s; an interpolated topic cannot be created in advance", fieldCreateTopic, fieldTopic)
	}
	what := "kafka_franz output"
	if w.label != "" {
		what += " " + w.label
	}
	if w.health, err = healthsvc.FromParsed(conf, mgr, what); err != nil {
		return nil, err
	}
	for _, opt := range []struct {
		name string
		dst  **service.InterpolatedString
	}{{fieldKey, &w.key}, {fieldPartition, &w.partition}, {fieldTimestampMs, &w.timestampMs}} {
		if conf.Contains(opt.name) {
			if *opt.dst, err = conf.FieldInterpolatedString(opt.name); err != nil {
				return nil, err
			}
		}
	}
	if (pc.Partitioner == "manual") != (w.partition != nil) {
		return nil, fmt.Errorf("%s: must be set exactly when %s is manual", fieldPartition, fieldPartitioner)
	}
	if conf.Contains(fieldMetadata) {
		if w.meta, err = conf.FieldMetadataFilter(fieldMetadata); err != nil {
			return nil, err
		}
	}
	if w.idem, err = idempotencyFromParsed(conf, client, mgr); err != nil {
		return nil, err
	}
	if w.txn, w.txnLabel, err = txnFromParsedOutput(conf, mgr, pc, w.idem); err != nil {
		return nil, err
	}
	if w.txnEndKey, err = txnEndEarlyFromParsed(conf); err != nil {
		return nil, err
	}
	return w, nil
}

// Connect connects the client and, the first time, checks that a static
// topic exists (creating it if create_topic says so). A topic that does not
// exist and will not be created stops the job (clicmd.Abort): no write could
// ever succeed. While writes fail (healthsvc), each reconnection probes the
// brokers before the batch is written again.
func (w *writer) Connect(ctx context.Context) error {
	if w.txn != nil {
		return w.connectTxn(ctx)
	}
	err := w.prod.Connect(ctx)
	if errors.Is(err, franz.ErrClosed) {
		return service.ErrNotConnected
	}
	if err != nil {
		return err
	}
	if !w.checked && w.staticTopic != "" {
		if err := w.ensureTopic(ctx); err != nil {
			return w.stopOnMissingTopic(err)
		}
		// Batches the topic takes (producer_fit.go); unreadable (no
		// DescribeConfigs ACL): kept as configured.
		if _, err := w.prod.FitBatchesTo(ctx, w.staticTopic); err != nil {
			w.log.Debugf("kafka_franz output: max.message.bytes of topic %s not read, batches bounded by max_message_bytes: %v", w.staticTopic, err)
		}
		w.checked = true
	}
	return w.health.Reconnect(ctx, func(ctx context.Context) error {
		if w.staticTopic != "" {
			return w.ensureTopic(ctx)
		}
		return franz.Ping(ctx, w.prod.Client(), w.client)
	})
}

// stopOnMissingTopic stops the job when err says the topic does not exist
// (and will not be created), and returns err otherwise.
func (w *writer) stopOnMissingTopic(err error) error {
	var missing *franz.MissingTopicError
	var mismatch *franz.PartitionMismatchError
	if !errors.As(err, &missing) && !errors.As(err, &mismatch) {
		return err
	}
	// Logged here, before the abort: Benthos logs a failed Connect
	// asynchronously and may be shut down first.
	w.log.Error(err.Error())
	clicmd.Abort(ExitCodeMissingTopic, err)
	// Without a CLI to stop (a stream built in Go), stay not connected and
	// say so every minute rather than every second.
	return service.NewErrBackOff(err, time.Minute)
}

func (w *writer) ensureTopic(ctx context.Context) error {
	return w.ensureTopicWith(ctx, w.prod.Client())
}

// ensureTopicWith checks the static topic with cl (the output's producer,
// or the transactional input's client), creating it per create_topic.
func (w *writer) ensureTopicWith(ctx context.Context, cl *kgo.Client) error {
	if cl == nil {
		return service.ErrNotConnected
	}
	created, err := franz.EnsureTopic(ctx, cl, w.client, w.staticTopic, w.label, w.create)
	if created {
		parts := strconv.Itoa(int(w.create.Partitions))
		if w.create.PartitionsOf != "" {
			parts = "as many as " + w.create.PartitionsOf
		}
		w.health.Logf("created topic %s (%s partitions, replication factor %d) as create_topic.enabled says",
			w.staticTopic, parts, w.create.ReplicationFactor)
	}
	return err
}

func (w *writer) WriteBatch(ctx context.Context, batch service.MessageBatch) (err error) {
	var batchErr *service.BatchError
	fail := func(i int, err error) {
		if batchErr == nil {
			batchErr = service.NewBatchError(batch, err)
		}
		batchErr.Failed(i, err)
	}
	recs := make([]*kgo.Record, 0, len(batch))
	index := make([]int, 0, len(batch)) // record -> message position
	for i, msg := range batch {
		rec, err := w.record(batch, i, msg)
		if err != nil {
			fail(i, err)
			continue
		}
		recs = append(recs, rec)
		index = append(index, i)
	}
	var keys []franz.SourceKey
	if w.idem != nil {
		if recs, index, keys, err = w.idem.filter(ctx, batch, recs, index, fail); err != nil {
			return err
		}
	}
	errs, err := w.produce(ctx, recs)
	if w.idem != nil {
		if err != nil {
			errs = make([]error, len(recs))
			for j := range errs {
				errs[j] = err // unknown whether they landed
			}
		}
		w.idem.done(recs, keys, errs)
	}
	if err != nil {
		if errors.Is(err, franz.ErrClosed) {
			return service.ErrNotConnected
		}
		return err
	}
	w.endTxnEarly(batch)
	acked := map[string]int64{}
	var produceErr error
	for j, perr := range errs {
		if perr != nil {
			fail(index[j], perr)
			produceErr = perr
			continue
		}
		acked[recs[j].Topic]++
	}
	var delivered int64
	for topic, n := range acked {
		w.records.Incr(n, topic)
		delivered += n
	}
	switch {
	case produceErr == nil:
		if len(recs) > 0 {
			w.health.Delivered()
		}
	case delivered == 0:
		// Nothing got through: the brokers (or the topic) are failing.
		// After not_ready_after this becomes ErrNotConnected, and Benthos
		// writes the same batch again once Connect's probe passes.
		if err := w.health.Failed(batchErr); errors.Is(err, service.ErrNotConnected) {
			return err
		}
	default:
		// Some records were acknowledged: only the others are retried.
		_ = w.health.PartlyFailed(produceErr)
	}
	if batchErr != nil {
		return batchErr
	}
	return nil
}

func (w *writer) record(batch service.MessageBatch, i int, msg *service.Message) (*kgo.Record, error) {
	value, err := msg.AsBytes()
	if err != nil {
		return nil, err
	}
	rec := &kgo.Record{Value: value}
	if rec.Topic, err = batch.TryInterpolatedString(i, w.topic); err != nil {
		return nil, fmt.Errorf("%s interpolation: %w", fieldTopic, err)
	}
	if rec.Topic == "" {
		return nil, fmt.Errorf("%s: interpolated to an empty topic name", fieldTopic)
	}
	if w.key != nil {
		key, err := batch.TryInterpolatedBytes(i, w.key)
		if err != nil {
			return nil, fmt.Errorf("%s interpolation: %w", fieldKey, err)
		}
		if len(key) > 0 {
			rec.Key = key
		}
	}
	if w.partition != nil {
		s, err := batch.TryInterpolatedString(i, w.partition)
		if err != nil {
			return nil, fmt.Errorf("%s interpolation: %w", fieldPartition, err)
		}
		if rec.Partition, err = w.recordPartition(s); err != nil {
			return nil, err
		}
	}
	if w.timestampMs != nil {
		s, err := batch.TryInterpolatedString(i, w.timestampMs)
		if err != nil {
			return nil, fmt.Errorf("%s interpolation: %w", fieldTimestampMs, err)
		}
		if s != "" {
			ms, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not epoch milliseconds", fieldTimestampMs, s)
			}
			rec.Timestamp = timeFromMillis(ms)
		}
	}
	if w.meta != nil {
		_ = w.meta.Walk(msg, func(k, v string) error {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			return nil
		})
	}
	return rec, nil
}

func (w *writer) Close(context.Context) error {
	w.prod.Close() // never connected in transaction mode: closing is a no-op
	return nil
}

// recordPartition parses an interpolated partition. In a transaction each
// record has its own partitioner, so an empty one means -1: hash the key
// (murmur2, as murmur2_hash), e.g. the window's partials beside its markers.
func (w *writer) recordPartition(s string) (int32, error) {
	s = strings.TrimSpace(s)
	if s == "" && w.txn != nil {
		return -1, nil
	}
	p, err := strconv.ParseInt(s, 10, 32)
	if err != nil || p < 0 {
		return 0, fmt.Errorf("%s: %q is not a partition number", fieldPartition, s)
	}
	return int32(p), nil
}
