package kafkafranz

import (
	"context"
	"fmt"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// The output's `idempotency` object: each input record is written at most
// once to the target topic across crashes (docs/faults.md). Not a Redpanda
// Connect field; off unless consumer_group is set.
const (
	fieldIdempotency      = "idempotency"
	fieldIdemGroup        = "consumer_group"
	fieldIdemKey          = "key"
	fieldIdemHeader       = "header"
	fieldIdemGroupHeader  = "group_header"
	defaultIdempotencyKey = `${! meta("kafka_topic") }/${! meta("kafka_partition") }/${! meta("kafka_offset") }`
)

func idempotencyField() *service.ConfigField {
	return service.NewObjectField(fieldIdempotency,
		service.NewStringField(fieldIdemGroup).
			Description("Consumer group of the input whose records this output writes (e.g. the dead-letter path of the same job). Set it to turn de-duplication on; empty = off (at-least-once).").
			Default("").Example("${KAFKA_GROUP:rides-connect-rides}"),
		service.NewInterpolatedStringField(fieldIdemKey).
			Description("The source coordinates of a message, as `topic/partition/offset`; written as a record header and compared with the group's committed offsets.").
			Default(defaultIdempotencyKey),
		service.NewStringField(fieldIdemHeader).
			Description("Record header that carries the key.").
			Default("source_offset").Example("source_offset"),
		service.NewStringField(fieldIdemGroupHeader).
			Description("Record header that carries `consumer_group`. Only records of this group count as already written: another job (another group) writing the same source records to the same topic does not make this one skip its own.").
			Default("source_group").Example("source_group"),
	).Description(`Exactly-once writes for a job that reads one Kafka input: before the first write to a topic, and again after a failed write, the output reads the topic to its end and remembers the keys this group wrote at or after its committed offsets; a message whose key is already in the topic is acknowledged without being sent again. Memory: the keys of records not yet committed. Holds while one process consumes each partition (a rebalance that moves a partition to another live process is not covered).`).
		Advanced().Optional()
}

// idempotency is the parsed field; nil when off.
type idempotency struct {
	dedupe *franz.Dedupe
	key    *service.InterpolatedString
	header string
	group  string
	// groupHeader names the header carrying group on every record.
	groupHeader string
	// skipped counts messages not sent because their key is in the topic.
	skipped *service.MetricCounter
	// unkeyed counts messages written without a key (no source coordinates).
	unkeyed *service.MetricCounter
	log     *service.Logger
}

func idempotencyFromParsed(conf *service.ParsedConfig, client franz.ClientConfig, mgr *service.Resources) (*idempotency, error) {
	if !conf.Contains(fieldIdempotency) {
		return nil, nil
	}
	sub := conf.Namespace(fieldIdempotency)
	group, err := sub.FieldString(fieldIdemGroup)
	if err != nil || group == "" {
		return nil, err
	}
	id := &idempotency{skipped: mgr.Metrics().NewCounter("kafka_output_records_skipped_total", "topic"),
		unkeyed: mgr.Metrics().NewCounter("kafka_output_records_unkeyed_total", "topic"), log: mgr.Logger()}
	if id.key, err = sub.FieldInterpolatedString(fieldIdemKey); err != nil {
		return nil, err
	}
	if id.header, err = sub.FieldString(fieldIdemHeader); err != nil {
		return nil, err
	}
	if id.groupHeader, err = sub.FieldString(fieldIdemGroupHeader); err != nil {
		return nil, err
	}
	if id.header == "" || id.groupHeader == "" || id.header == id.groupHeader {
		return nil, fmt.Errorf("%s.%s and %s.%s: must be two different, non-empty header names", fieldIdempotency, fieldIdemHeader, fieldIdempotency, fieldIdemGroupHeader)
	}
	id.group = group
	id.dedupe = franz.NewDedupe(franz.DedupeConfig{Client: client, Group: group, Header: id.header, GroupHeader: id.groupHeader}, mgr.Logger())
	return id, nil
}

// filter drops the records already in their topic and tags the others with
// their key. keys[j] belongs to the kept recs[j].
func (id *idempotency) filter(ctx context.Context, batch service.MessageBatch, recs []*kgo.Record, index []int, fail func(int, error)) ([]*kgo.Record, []int, []franz.SourceKey, error) {
	topics := map[string]bool{}
	var list []string
	for _, r := range recs {
		if !topics[r.Topic] {
			topics[r.Topic] = true
			list = append(list, r.Topic)
		}
	}
	if err := id.dedupe.Prepare(ctx, list); err != nil {
		return nil, nil, nil, err
	}
	keptRecs, keptIndex, keys := recs[:0], index[:0], make([]franz.SourceKey, 0, len(recs))
	for j, r := range recs {
		i := index[j]
		s, err := batch.TryInterpolatedString(i, id.key)
		if err != nil {
			fail(i, fmt.Errorf("%s.%s interpolation: %w", fieldIdempotency, fieldIdemKey, err))
			continue
		}
		k, err := franz.ParseSourceKey(s)
		if err != nil {
			// No source coordinates (a window emission the table refused,
			// a key built from missing metadata): nothing to deduplicate
			// by, so it is written as it comes, at least once. Failing it
			// would fail it again on every retry, stopping this output and
			// the input partitions waiting for it for good.
			id.unkeyed.Incr(1, r.Topic)
			id.log.Warnf("%s.%s: %v: written without deduplication", fieldIdempotency, fieldIdemKey, err)
			keptRecs, keptIndex, keys = append(keptRecs, r), append(keptIndex, i), append(keys, franz.SourceKey{})
			continue
		}
		if id.dedupe.Seen(k) {
			id.skipped.Incr(1, r.Topic)
			continue
		}
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: id.header, Value: []byte(s)},
			kgo.RecordHeader{Key: id.groupHeader, Value: []byte(id.group)})
		keptRecs, keptIndex, keys = append(keptRecs, r), append(keptIndex, i), append(keys, k)
	}
	return keptRecs, keptIndex, keys, nil
}

// done records what the brokers acknowledged; a failed record makes its
// topic be read again before the next write (it may have landed).
func (id *idempotency) done(recs []*kgo.Record, keys []franz.SourceKey, errs []error) {
	ok := keys[:0:0]
	for j, err := range errs {
		if err != nil {
			id.dedupe.Failed(recs[j].Topic)
			continue
		}
		if keys[j].Topic != "" { // not an unkeyed message
			ok = append(ok, keys[j])
		}
	}
	id.dedupe.Written(ok)
}
