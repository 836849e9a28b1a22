package kafkafranz

import (
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/batchcheck"
	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/health/healthsvc"
	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// Output field names (Redpanda Connect's kafka_franz names).
const (
	fieldTopic           = "topic"
	fieldKey             = "key"
	fieldPartitioner     = "partitioner"
	fieldPartition       = "partition"
	fieldIdempotentWrite = "idempotent_write"
	fieldAckReplicas     = "ack_replicas"
	fieldCompression     = "compression"
	fieldTimeout         = "timeout"
	fieldMaxMessageBytes = "max_message_bytes"
	fieldLinger          = "linger"
	fieldFlushOnWrite    = "flush_on_write"
	fieldMetadata        = "metadata"
	fieldTimestampMs     = "timestamp_ms"
	fieldBrokerWriteMax  = "broker_write_max_bytes"
	fieldCreateTopic     = "create_topic"
)

func outputSpec() *service.ConfigSpec {
	spec := service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Writes messages to Kafka with franz-go.").
		Description(`
Writes each message as a Kafka record; field names follow Redpanda Connect's `+"`kafka_franz`"+` output.

### Delivery guarantees

At-least-once. A batch is acknowledged upstream only when the brokers acknowledged every record
of it (with `+"`ack_replicas: true`"+`, all in-sync replicas). Records that failed are reported
individually, so only they are retried. The idempotent producer (`+"`idempotent_write`"+`, on by default)
removes duplicates caused by the client's own retries; duplicates from an upstream replay remain,
unless `+"`idempotency.consumer_group`"+` is set: then a record whose source coordinates are already in
the topic (written before a crash, or by a write whose outcome was unknown) is not sent again, so
each input record is written once (docs/faults.md). With `+"`transaction.input`"+` the records are produced in the
transactions of a transactional `+"`kafka_franz`"+` input and commit with its consumed offsets: exactly once for
`+"`read_committed`"+` consumers.

### A topic that does not exist

On connecting, a static `+"`topic`"+` is looked up with a metadata request (the client never asks the
broker to auto-create it). If the broker says it does not exist and `+"`create_topic.enabled`"+` is false,
the output refuses to start: the error names the topic, the output's label and the
`+"`rides-connect kafka topic create`"+` command that creates it, and `+"`rides-connect -c`"+` exits with
status 4 within seconds instead of retrying a write that can never succeed. With
`+"`create_topic.enabled: true`"+` the output creates it with `+"`create_topic.partitions`"+` and
`+"`create_topic.replication_factor`"+` (the client then needs the CREATE permission on it). A topic with
interpolations (`+"`${! ... }`"+`) cannot be checked before a message names it: a missing one shows as
failing writes (below).

### Back-pressure and failures

At most `+"`max_in_flight`"+` batches are being written at once; a write blocks until acknowledged or until
`+"`timeout`"+` expires, which slows the pipeline down when the brokers do. A failed write is nacked and
retried, never dropped; upstream, the input stops reading once `+"`checkpoint_limit`"+` records wait, so
memory stays bounded. Once every write has failed for `+"`not_ready_after`"+`, the output reports itself not
connected (`+"`/ready`"+` answers 503) and retries the batch about once a second until the brokers take it;
then it is ready again by itself.

### Metrics

`+"`kafka_output_records_total`"+` (per topic): records produced and acknowledged.
`+"`output_failing_seconds`"+` (gauge): how long every write has been failing, 0 while delivering.
`+"`output_delivery_failures_total`"+`: failed writes. Both carry the output's `+"`label`"+`.
`).
		Fields(clientFields()...).
		Fields(
			service.NewInterpolatedStringField(fieldTopic).
				Description("Topic to write to; may use interpolations such as `${! @kafka_topic }-dlq`.").
				Example("rides").Example("${! meta(\"dlq_topic\") }"),
			service.NewInterpolatedStringField(fieldKey).
				Description("Record key; empty means no key.").
				Example("${! json(\"rideId\") }").Optional(),
			enumfield.NewAnnotated(fieldPartitioner, partitioners).Description("How records are assigned to partitions.").Default("murmur2_hash").Example("manual"),
			service.NewInterpolatedStringField(fieldPartition).
				Description("Partition number for `partitioner: manual`. With `transaction.input`, an empty value hashes the record's key (murmur2, as `murmur2_hash`), so one output can place some records by key and others by number, in one order.").
				Example("${! meta(\"kafka_partition\") }").Optional(),
			service.NewBoolField(fieldIdempotentWrite).
				Description("Idempotent producer: broker-side de-duplication of the client's retries. Requires `ack_replicas`.").
				Default(true).Example(true).Advanced(),
			service.NewBoolField(fieldAckReplicas).
				Description("Wait for all in-sync replicas to acknowledge (acks=all); false waits for the leader only (acks=1, idempotent_write must then be false).").
				Default(true).Example(true).Advanced(),
			enumfield.New(fieldCompression, franz.Compressions...).
				Description("Compression codec of produced batches.").
				Default("none").Example("lz4"),
			service.NewDurationField(fieldTimeout).
				Description("Maximum time to deliver a record (broker request and retries) before it fails.").
				Default("10s").Example("30s"),
			service.NewDurationField(fieldLinger).
				Description("How long a partition's records wait for more before they are sent (Java `linger.ms`). Not used with `transaction.input`, whose client sends at once.").
				Default("10ms").Example("0s").Advanced(),
			service.NewBoolField(fieldFlushOnWrite).
				Description("Send a write's records as soon as all of them are queued, instead of after `linger`. A write waits for the acks of all its records, so with few records per write (a dead-letter output: a few per batch) the linger is otherwise added to every write, and to every batch that waits for it (a transactional input hands out a partition's next batch only once the previous one is acked). Unlike `linger: 0s`, a write's records still go in one request. A write waits for its own records only, not for those of writes in flight beside it. Not used with `transaction.input`.").
				Default(false).Example(true).Advanced(),
			service.NewStringField(fieldMaxMessageBytes).
				Description("Maximum size of a produced record batch. With a static `topic`, lowered at connect to the topic's `max.message.bytes` when that is smaller (with a warning), so that batches of small records are not refused whole; a single record larger than the topic takes is still refused.").
				Default("1MiB").Example("4MiB").Advanced(),
			service.NewStringField(fieldBrokerWriteMax).
				Description("Upper bound of one write to a broker connection; must be at least `max_message_bytes` and match the broker's `socket.request.max.bytes`. At most 1GiB.").
				Default("100MiB").Example("128MiB").Advanced(),
			service.NewStringField(fieldRackID).
				Description("Rack of this client, sent to the brokers (Redpanda Connect field; producing always goes to the partition leader).").
				Default("").Example("eu-west-1a").Advanced(),
			service.NewMetadataFilterField(fieldMetadata).
				Description("Which message metadata to send as record headers. By default none.").
				Optional().Advanced(),
			service.NewInterpolatedStringField(fieldTimestampMs).
				Description("Record timestamp in epoch milliseconds; empty means now.").
				Example("${! timestamp_unix_milli() }").Optional().Advanced(),
			service.NewObjectField(fieldCreateTopic,
				service.NewBoolField("enabled").
					Description("Create the topic when it does not exist on connecting (a static `topic` only). When false, a missing topic stops the job at start with the command that creates it.").
					Default(false),
				service.NewIntField("partitions").
					Description("Partitions of a topic this output creates.").
					Default(1).Example(6),
				service.NewStringField("partitions_of").
					Description("Name of another topic (e.g. the job's source topic): the topic is created with that topic's partition count instead of `partitions`, and an existing topic with another count stops the job at start. For internal topics that must match their source, such as the window's `<group>-repartition`.").
					Default("").Example("rides"),
				service.NewIntField("replication_factor").
					Description("Replicas per partition of a topic this output creates; -1 uses the broker's `default.replication.factor`.").
					Default(-1).Example(3),
				service.NewStringMapField("configs").
					Description("Topic configs of a topic this output creates, e.g. `max.message.bytes` when records can be larger than the broker's default 1 MB (keep `max_message_bytes` at most this).").
					Default(map[string]any{}).Example(map[string]any{"max.message.bytes": "8388608"}),
			).Description("What to do when the target topic does not exist (see the description). Same settings as `rides-connect kafka topic create`.").
				Advanced(),
			healthsvc.NotReadyAfterField(),
			idempotencyField(),
			txnOutputField(),
			service.NewOutputMaxInFlightField().Default(10),
			service.NewBatchPolicyField(fieldBatching),
		).
		LintRule(lintrule.Lazy("kafka_franz_output", lintRule(append([]lintCheck{
			{`this.partitioner.or("murmur2_hash") == "manual" && this.partition.or("") == ""`,
				"partition: required when partitioner is manual"},
			{`this.partitioner.or("murmur2_hash") != "manual" && this.partition.or("") != ""`,
				"partition: only used when partitioner is manual"},
			{`this.idempotent_write.or(true) && this.ack_replicas.or(true) == false`,
				"ack_replicas: must be true when idempotent_write is true (idempotence needs acks=all)"},
			{`this.create_topic.partitions.or(1) < 1`,
				"create_topic.partitions: must be at least 1"},
			{`this.create_topic.replication_factor.or(-1) == 0 || this.create_topic.replication_factor.or(-1) < -1`,
				"create_topic.replication_factor: must be at least 1, or -1 for the broker default"},
			{`this.create_topic.enabled.or(false) && this.topic.or("").contains("${!")`,
				"create_topic.enabled: needs a static topic; an interpolated topic cannot be created in advance"},
		}, append(txnOutputLintChecks, clientRule)...)...), outputEnums()...)).
		Example("Simulator output", "Write rides to `rides`, keyed by ride ID.", `
output:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BOOTSTRAP:localhost:9092}" ]
    topic: rides
    key: ${! json("rideId") }
    compression: lz4
    batching:
      count: 100
      period: 100ms
`)
	return spec
}

func init() {
	service.MustRegisterBatchOutput("kafka_franz", outputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			w, err := writerFromParsed(conf, mgr)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			policy, maxInFlight, err := batchcheck.Output(conf, fieldBatching)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			return w, policy, maxInFlight, nil
		})
}

// partitioners are the options of partitioner.
var partitioners = map[string]string{
	"murmur2_hash": "Kafka's default: murmur2 hash of the key (as the Java client), records without key spread in sticky batches.",
	"round_robin":  "Spread records evenly over partitions.",
	"least_backup": "Send to the partition with the fewest records buffered.",
	"manual":       "Use the `partition` field.",
}

// outputEnums are the output's enum fields, for its lint rule.
func outputEnums() []lintrule.Enum {
	return append([]lintrule.Enum{
		{Path: fieldPartitioner, Options: enumfield.Keys(partitioners)},
		{Path: fieldCompression, Options: franz.Compressions},
	}, clientEnums...)
}
