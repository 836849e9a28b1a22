package kafkafranz

import (
	"fmt"
	"regexp"

	// The lint rules use Bloblang methods registered by the pure components
	// (parse_duration, ...): importing them here registers them in any binary
	// that has this plugin.
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// Input field names (Redpanda Connect's kafka_franz names).
const (
	fieldTopics                 = "topics"
	fieldRegexpInclude          = "regexp_topics_include"
	fieldRegexpExclude          = "regexp_topics_exclude"
	fieldConsumerGroup          = "consumer_group"
	fieldStartOffset            = "start_offset"
	fieldCheckpointLimit        = "checkpoint_limit"
	fieldCommitPeriod           = "commit_period"
	fieldBatching               = "batching"
	fieldFlushWhenCaughtUp      = "flush_when_caught_up"
	fieldBatchScope             = "batch_scope"
	fieldFetchMaxBytes          = "fetch_max_bytes"
	fieldFetchMaxPartitionBytes = "fetch_max_partition_bytes"
	fieldFetchMaxWait           = "fetch_max_wait"
	fieldRackID                 = "rack_id"
	fieldInstanceID             = "instance_id"
	fieldSessionTimeout         = "session_timeout"
	fieldRebalanceTimeout       = "rebalance_timeout"
	fieldHeartbeatInterval      = "heartbeat_interval"
	fieldGroupBalancer          = "group_balancer"
	fieldFailOnDataLoss         = "fail_on_data_loss"
	fieldFetchMinBytes          = "fetch_min_bytes"
	fieldIsolationLevel         = "transaction_isolation_level"
	fieldMultiHeader            = "multi_header"
	fieldMetadataKeys           = "metadata_keys"
	fieldSetMetadata            = "set_metadata"
	fieldEmptyNotices           = "empty_partition_notices"
	fieldEmptyNoticesAfter      = "empty_partition_notices_after"
	fieldCaughtUpNotices        = "caught_up_notices"
)

func inputSpec() *service.ConfigSpec {
	spec := service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Consumes records from Kafka topics with franz-go, committing offsets only once records are delivered downstream.").
		Description(`
Reads one or more Kafka topics, in a consumer group or from explicit partitions.
Field names and message metadata follow Redpanda Connect's ` + "`kafka_franz`" + ` input, so its configs run unchanged.

### Delivery guarantees

At-least-once. Offsets are committed per partition, every ` + "`commit_period`" + ` and when partitions are
revoked, and only up to the last record below which **every** record was acknowledged by the
outputs: a record acked out of order never lets the commit skip an earlier record still in flight.
Nacked records are replayed (` + "`auto_replay_nacks: true`" + `, the default) and never committed past;
with ` + "`auto_replay_nacks: false`" + ` a nacked record is dropped and its offset committed, as in Benthos.
On a rebalance the consumer stops tracking the revoked partitions, then commits what was acked
before that: later acks of their records commit nothing, and their records fetched but not yet
handed downstream are dropped, so the new owner re-delivers only what was in flight downstream. After a crash, consumption
resumes from the last commit, so up to ` + "`commit_period`" + ` worth of records is delivered again:
downstream writes must be idempotent for exactly-once results (see ` + "`delta_lake`" + `).
Without a consumer group (explicit partitions) nothing is committed.

With ` + "`transaction.enabled`" + `: **exactly once from Kafka to Kafka**. Batches are handed out in Kafka transactions
(KIP-447) of about ` + "`transaction.commit_period`" + `; ` + "`kafka_franz`" + ` outputs with ` + "`transaction.input`" + ` naming this
input's label produce in them. A transaction ends once every batch handed out in it is acked (no new
batch goes out meanwhile) and commits the produced records together with the offsets of the records
delivered in it. A nack, a revoked partition or a refused commit (the group generation changed: a
zombie) aborts it, and the input reads again from the committed offsets. Consumers of the output
topics with ` + "`transaction_isolation_level: read_committed`" + ` see each input record's output once, across
crashes and rebalances; ` + "`auto_replay_nacks`" + ` and ` + "`commit_period`" + ` do not apply.

### Batches and event time

By default (` + "`batch_scope: partition`" + `, as Redpanda Connect) a batch never mixes partitions.
With ` + "`batch_scope: poll`" + ` batches span all assigned partitions, like Spark micro-batches: each is cut
from a round holding one fetch of every partition with records waiting, so an event-time window
with a global watermark (advanced at the end of each batch) does not see one partition's backlog
run far ahead of the others and drop theirs as late.
Either way records of a partition keep their order, and acks, commits and back-pressure work per
partition as described below.

### Back-pressure

A partition is paused when ` + "`checkpoint_limit`" + ` of its records are in flight (un-acked) and resumed
once acks bring it below the limit; other partitions keep flowing.

### Data loss

When a committed offset is no longer in the log (retention deleted the records, the topic was
recreated) the partition is reset per ` + "`start_offset`" + ` (` + "`earliest`" + ` and ` + "`committed`" + ` to the log start,
` + "`latest`" + ` to the log end). When retention overtakes the consumer while it reads, it resumes at
the log start. Either way a warning names topic, partition and the skipped range, and
` + "`kafka_input_offset_resets_total`" + ` counts it. With ` + "`fail_on_data_loss: true`" + ` the input stops instead: an
ERROR line says STOPPED ON DATA LOSS, ` + "`kafka_input_stopped_on_data_loss`" + ` is set to 1 and the pipeline ends;
Benthos then exits with status 0 unless the binary maps it (rides-connect: see docs/kafka.md).
With ` + "`purge_committed`" + ` the input itself deletes the records below the group's committed offsets, never
above them: the group never reads them again, so this is no data loss for it (other consumers of the topic lose them).

### Metadata

Each message carries ` + "`kafka_key`" + `, ` + "`kafka_topic`" + `, ` + "`kafka_partition`" + `, ` + "`kafka_offset`" + `,
` + "`kafka_timestamp_ms`" + `, ` + "`kafka_timestamp_unix`" + `, ` + "`kafka_tombstone_message`" + ` and every record header not named like one of these keys (as a string,
or with ` + "`multi_header`" + ` as a list of strings). With a consumer group it also carries ` + "`kafka_lag`" + `: how many
records followed this one in its partition when it was fetched (high watermark - offset - 1), and
` + "`kafka_topic_partitions`" + ` (not in Redpanda Connect): the topic's partition count, so that ` + "`tumbling_window`" + `
waits for partitions that have not delivered yet; ` + "`kafka_prev_offset`" + `; and ` + "`kafka_assignment_epoch`" + ` (int, not in
Redpanda Connect): it changes every time this process is (re)assigned the partition or rewinds it (a
transaction abort), so a stage keeping per-partition state knows to reload it; ` + "`kafka_empty_partitions`" + ` (list of ints, not in
Redpanda Connect, consumer group mode, set only while there are some): the partitions of the topic this process owns
that have delivered nothing since they were assigned and had nothing to read at the last look, which ` + "`tumbling_window`" + `
then does not wait for (with ` + "`empty_partition_notices`" + `, a message of its own names each such partition, see below); ` + "`kafka_assignment_offset`" + ` (int, not in
Redpanda Connect): the committed offset this process resumed the partition from in that epoch (at
assignment, or after a transaction abort), -1 when there was none or without a group; the offsets
between it and the first record delivered are commit markers, aborted records or compacted ones,
so a stage reading the partition's state back compares the state's position with it; ` + "`kafka_assignment_commit`" + `
(string, not in Redpanda Connect): what that committed offset was, ` + "`none`" + `, ` + "`start`" + ` (only the start offset that
` + "`start_offset: latest`" + ` commits at assignment, marked with the commit metadata ` + "`rides-connect:start`" + `) or
` + "`progress`" + ` (committed after records were acked, or by another tool), so ` + "`tumbling_window`" + ` with ` + "`state.sync: commit`" + `
(and stages ` + "`local`" + ` and ` + "`partial`" + `) knows that a state missing after progress was lost; and
` + "`kafka_group_generation`" + ` (int, not in Redpanda Connect, consumer group mode only): the group generation at
which this process was assigned the partition. It grows from one owner of the partition to the next
(every rebalance raises the group's generation) and stays while this process keeps the partition, so
it serves as a fencing token for what the owner writes elsewhere (` + "`delta_lake`" + ` ` + "`idempotency.fence_token`" + `).
A static member (` + "`instance_id`" + `) that rejoins within ` + "`session_timeout`" + ` gets its partitions back without a
rebalance, at the same generation.

With ` + "`empty_partition_notices: true`" + ` (consumer group mode) the input also hands out, in a batch of its own, a
**notice** for each partition it owns that is read to its end with no record delivered since it was assigned
(or since a transaction abort rewound it), once per assignment: a message with an empty body and the metadata
` + "`kafka_notice: empty_partition`" + `, ` + "`kafka_topic`" + `, ` + "`kafka_partition`" + `, ` + "`kafka_empty_partitions`" + ` (that partition),
` + "`kafka_topic_partitions`" + `, and ` + "`kafka_assignment_epoch`" + `, ` + "`kafka_assignment_offset`" + ` and ` + "`kafka_group_generation`" + ` as
` + "`metadata_keys`" + ` says; no ` + "`kafka_offset`" + `. A process owning only partitions that never receive a record gets them
too, so ` + "`tumbling_window`" + ` ` + "`stage: partial`" + ` can announce such partitions in this input's transaction (a notice
moves no offset). A partition with records to read is never noticed (with ` + "`read_committed`" + `, the end is the last
stable offset, listed at assignment). A processor before the window may fail a notice (a parser: it has no body):
` + "`tumbling_window`" + ` takes it as a notice all the same, never as a dead letter; one that deletes failed messages loses it.
With ` + "`caught_up_notices: true`" + ` the same partitions also get, at once, a **caught-up notice**: the same message with
` + "`kafka_notice: caught_up`" + ` and no ` + "`kafka_empty_partitions`" + ` (it announces nothing), so a stage keeping per-partition
state (` + "`tumbling_window`" + ` ` + "`stage: local`" + `) loads it without waiting for a record.

### Metrics

` + "`kafka_input_records_total`" + `, ` + "`kafka_input_bytes_total`" + `, ` + "`kafka_input_lag`" + ` (per topic and partition),
` + "`kafka_input_paused_partitions`" + `, ` + "`kafka_input_commits_total`" + `, ` + "`kafka_input_offset_resets_total`" + `,
` + "`kafka_input_revoked_dropped_total`" + ` (records of revoked partitions dropped before delivery), ` + "`kafka_input_transactions_total`" + `,
` + "`kafka_input_purges_total`" + ` (with ` + "`purge_committed`" + `),
` + "`kafka_input_stopped_on_data_loss`" + `.
`)
	spec = spec.Fields(clientFields()...).Fields(
		service.NewStringListField(fieldTopics).
			Description("Topics to consume. Entries with commas are split. Explicit partitions: `topic:partition`, a range `topic:first-last`, or a start offset `topic:partition:offset`; explicit partitions are consumed without a consumer group.").
			Example([]string{"rides"}).Example([]string{"rides:0-5"}).Example([]string{"rides:0:1200", "rides:1"}).
			Optional(),
		service.NewStringListField(fieldRegexpInclude).
			Description("Regular expressions; every topic matching one is consumed (refreshed every `metadata_max_age`).").
			Example([]string{"rides-.*"}).Optional().Advanced(),
		service.NewStringListField(fieldRegexpExclude).
			Description("Regular expressions of topics to leave out of `regexp_topics_include`.").
			Example([]string{".*-dlq"}).Optional().Advanced(),
		service.NewStringField(fieldConsumerGroup).
			Description("Consumer group. Required unless `topics` names explicit partitions; offsets are committed to it.").
			Example("rides-agg").Optional(),
		enumfield.NewAnnotated(fieldStartOffset, startOffsets).Description("Where to start in a partition with no committed offset, and where to reset after data loss.").
			Default("earliest").Example("latest"),
		service.NewIntField(fieldCheckpointLimit).
			Description("Maximum records of one partition in flight (delivered but not acked) before the partition is paused.").
			Default(1024).Example(10000),
		service.NewDurationField(fieldCommitPeriod).
			Description("How often acknowledged offsets are committed.").
			Default("5s").Example("1s"),
		service.NewBatchPolicyField(fieldBatching).
			Description("Batches are formed per topic-partition (see `batch_scope`), so a batch never mixes partitions. Without a policy each fetched run of records of a partition is one batch. A partial batch is also flushed when its partition reaches `checkpoint_limit`, since no more records come until some are acked, and, with `flush_when_caught_up`, when its partitions are read to their end."),
		service.NewBoolField(fieldFlushWhenCaughtUp).
			Description("Flush a partial batch as soon as the partitions it draws from have been read to their end (with `batch_scope: poll`, every assigned partition; with `partition`, its own), instead of waiting for `batching.period`: nothing more can join it then. Like a Spark micro-batch, which takes the offsets available. Without it, the last batch of a backlog waits up to a whole period, and so do the records of a stream slower than the policy's `count`. Set `false` to keep Benthos' rule (a batch ends at `count`, `byte_size` or `period` only): fewer, larger batches on a slow stream.").
			Default(true).Advanced(),
		enumfield.NewAnnotated(fieldBatchScope, batchScopes).Description("What one batch spans. Use `poll` in front of an event-time window with a global watermark (`tumbling_window`): with `partition`, a backlog of one partition read as one batch moves the watermark past the other partitions' records, which are then late. "+
			"Records of one partition keep their offset order in both scopes; acks, commits, `checkpoint_limit` and rebalances work per partition in both.").
			Default(scopePartition).Example(scopePoll).Advanced(),
		service.NewStringField(fieldFetchMaxBytes).
			Description("Maximum bytes a fetch response may hold.").Default("50MiB").Example("100MiB").Advanced(),
		service.NewStringField(fieldFetchMaxPartitionBytes).
			Description("Maximum bytes per partition in a fetch response.").Default("1MiB").Example("4MiB").Advanced(),
		service.NewDurationField(fieldFetchMaxWait).
			Description("How long a broker may wait for `fetch_min_bytes` of data before answering a fetch (Java `fetch.max.wait.ms`).").Default("5s").Example("500ms").Advanced(),
		service.NewStringField(fieldFetchMinBytes).
			Description("Minimum bytes a broker gathers before answering a fetch, up to `fetch_max_wait` (Java `fetch.min.bytes`). Larger values mean fewer, bigger fetches at the cost of latency.").
			Default("1B").Example("64KiB").Advanced(),
		enumfield.NewAnnotated(fieldIsolationLevel, isolationLevels).Description("Which transactional records to read (Java `isolation.level`).").
			Default("read_uncommitted").Example("read_committed").Advanced(),
		service.NewBoolField(fieldMultiHeader).
			Description("Put each record header in metadata as a list of strings, so a header repeated under one key keeps all its values; by default a header is a string and the last value of a repeated key wins.").
			Default(false).Example(true).Advanced(),
		service.NewStringListField(fieldMetadataKeys).
			Description("Set only these metadata keys (see Metadata above) instead of all of them (empty: all). `kafka_topic`, `kafka_partition` and record headers are always set. "+
				"For a job that reads few keys: Go keeps up to 8 keys in one small map, and a message with 9 or 10 keys costs the input more than twice the CPU and memory per record (docs/benchmarks.md). "+
				"A key left out reads as null (`meta(\"kafka_lag\")`), so list every key the config reads, including what other components read: `tumbling_window` reads `kafka_topic_partitions`, `kafka_empty_partitions`, `kafka_prev_offset` (with `kafka_offset`) and `kafka_assignment_commit`, the dead-letter envelope `kafka_offset`, `tumbling_window` with `stage: partial` or `merge` `kafka_assignment_epoch` and `kafka_assignment_offset`, and with `stage: merge` `kafka_group_generation` (its fencing token).").
			Example([]string{"kafka_key", "kafka_offset", "kafka_prev_offset", "kafka_topic_partitions"}).Optional().Advanced(),
		service.NewBoolField(fieldSetMetadata).
			Description("`false`: record messages carry no metadata at all (not even `kafka_topic`, `kafka_partition` or headers), only the record itself in the message's context, which rides-connect's components read instead: `tumbling_window` (its coordinates, by the same keys and `metadata_keys` rules) and the `kafka_metadata` processor, which sets the metadata on the messages that need it (config/templates/dead_letter_envelope.yaml starts with it, so dead letters keep their key and source). "+
				"A message's metadata map is the largest allocation per record after the parsed JSON: without it a backlog drain of config/rides.yaml took ~0.89x the CPU (docs/benchmarks.md, \"Sixteenth round\"). "+
				"A Bloblang mapping or output that reads `@kafka_*` sees null unless a `kafka_metadata` processor runs before it. Notices (`empty_partition_notices`) keep their metadata.").
			Default(true).Example(false).Advanced(),
		service.NewStringField(fieldRackID).Description("Rack of this consumer, to fetch from the closest replica.").Default("").Example("eu-west-1a").Advanced(),
		service.NewStringField(fieldInstanceID).Description("Static group membership ID (KIP-345): a member that restarts with the same ID gets its partitions back at once, without a rebalance. A stopped member, even one stopped cleanly, does not leave the group: its partitions wait up to `session_timeout` for it. Give each replica an ID that survives its restarts (a StatefulSet pod name, the host name).").Default("").Example("rides-agg-0").Advanced(),
		service.NewDurationField(fieldSessionTimeout).Description("Group session timeout.").Default("1m").Example("45s").Advanced(),
		service.NewDurationField(fieldRebalanceTimeout).Description("How long members may take to rejoin during a rebalance.").Default("45s").Example("1m").Advanced(),
		service.NewDurationField(fieldHeartbeatInterval).Description("Group heartbeat interval.").Default("3s").Example("1s").Advanced(),
		enumfield.NewAnnotated(fieldGroupBalancer, groupBalancers).Description("How the group's partitions are shared among its members (the group's partition assignment strategy). The coordinator picks one that every member offers.").
			Default(franz.BalancerCooperativeSticky).Example(franz.BalancerSingleOwner).Advanced(),
		service.NewBoolField(fieldFailOnDataLoss).
			Description("Stop the input with an error when a committed offset is out of the log's range, instead of resetting per `start_offset` and warning (Spark `failOnDataLoss`).").
			Default(false).Example(true).Advanced(),
		service.NewBoolField(fieldEmptyNotices).
			Description("Hand out a notice (a message with metadata `kafka_notice: empty_partition`, see Metadata) for each owned partition read to its end without a record since its assignment, once per assignment: `tumbling_window` `stage: partial` announces such partitions, so the scale-out job does not wait for partitions that never receive a record. Requires `consumer_group`.").
			Default(false).Example(true).Advanced(),
		service.NewDurationField(fieldEmptyNoticesAfter).
			Description("With `empty_partition_notices`, how long a partition must have been owned with nothing delivered (since its assignment, or since a transaction abort rewound it) before its notice goes out. A producer that starts after the job writes its first records to the partitions one after another: noticed at once, a partition whose first records come a moment later than the others' is announced empty and the windows its records belong to can close without them. `0s`: as soon as the partition is read to its end. config/rides-scaleout.yaml uses the window's `idle_timeout`, the same patience as for a partition that stops delivering.").
			Default("0s").Example("5m").Advanced(),
		service.NewBoolField(fieldCaughtUpNotices).
			Description("Hand out a caught-up notice (a message with metadata `kafka_notice: caught_up`, see Metadata) for each owned partition read to its end without a record since its assignment, once per assignment, at once (`empty_partition_notices_after` does not apply, and it announces nothing): `tumbling_window` `stage: local` loads the partition's state then, and sends again the bundles its previous owner left unwritten, instead of waiting for the partition's next record, which may never come. Requires `consumer_group`.").
			Default(false).Example(true).Advanced(),
		txnInputField(),
		purgeInputField(),
		service.NewAutoRetryNacksToggleField(),
	)
	checks := append([]lintCheck{
		{`this.topics.or([]).any(t -> t.contains(":")) && this.consumer_group.or("") != ""`,
			"consumer_group: cannot be used with explicit partitions in topics (topic:partition)"},
		{`!this.topics.or([]).any(t -> t.contains(":")) && this.consumer_group.or("") == "" && (this.topics.or([]).length() > 0 || this.regexp_topics_include.or([]).length() > 0)`,
			"consumer_group: required unless topics names explicit partitions (topic:partition)"},
		{`this.topics.or([]).length() > 0 && this.regexp_topics_include.or([]).length() > 0`,
			"topics and regexp_topics_include: set one, not both"},
		{`this.topics.or([]).length() == 0 && this.regexp_topics_include.or([]).length() == 0`,
			"topics: at least one topic (or regexp_topics_include) is required"},
		{`this.regexp_topics_exclude.or([]).length() > 0 && this.regexp_topics_include.or([]).length() == 0`,
			"regexp_topics_exclude: only applies with regexp_topics_include"},
		{`this.start_offset.or("earliest") == "committed" && this.consumer_group.or("") == ""`,
			"start_offset: committed requires a consumer_group"},
		{`this.instance_id.or("") != "" && this.consumer_group.or("") == ""`,
			"instance_id: static membership needs a consumer_group"},
		{`!["cooperative_sticky", "single_owner"].contains(this.group_balancer.or("cooperative_sticky"))`,
			"group_balancer: not one of cooperative_sticky, single_owner"},
		{`this.group_balancer.or("cooperative_sticky") == "single_owner" && this.consumer_group.or("") == ""`,
			"group_balancer: single_owner needs a consumer_group"},
		{`this.checkpoint_limit.or(1024) < 1`, "checkpoint_limit: must be at least 1"},
		{`this.empty_partition_notices.or(false) && this.consumer_group.or("") == ""`,
			"empty_partition_notices: requires a consumer_group"},
		{`this.caught_up_notices.or(false) && this.consumer_group.or("") == ""`,
			"caught_up_notices: requires a consumer_group"},
		{`this.empty_partition_notices_after.or("0s").parse_duration() < 0`,
			"empty_partition_notices_after: must not be negative"},
		{`this.metadata_keys.or([]).any(k -> !["kafka_topic", "kafka_partition", "kafka_key", "kafka_offset", "kafka_prev_offset", "kafka_topic_partitions", "kafka_timestamp_unix", "kafka_timestamp_ms", "kafka_tombstone_message", "kafka_lag", "kafka_assignment_epoch", "kafka_group_generation", "kafka_assignment_offset", "kafka_empty_partitions", "kafka_assignment_commit"].contains(k))`,
			"metadata_keys: unknown key; use kafka_topic, kafka_partition, kafka_key, kafka_offset, kafka_prev_offset, kafka_topic_partitions, kafka_timestamp_unix, kafka_timestamp_ms, kafka_tombstone_message, kafka_lag, kafka_assignment_epoch, kafka_group_generation, kafka_assignment_offset, kafka_empty_partitions, kafka_assignment_commit"},
		{`this.commit_period.or("5s").parse_duration() < 100000000`, "commit_period: must be at least 100ms"},
		// The consumer passes on positive values only: 0s or less silently
		// meant franz-go's defaults (a 45s session, a 5s fetch wait).
		{`this.session_timeout.or("1m").parse_duration().catch(null) == null`, "session_timeout: not a duration such as 10s"},
		{`this.session_timeout.or("1m").parse_duration().catch(null).or(100000000) < 100000000`, "session_timeout: must be at least 100ms (brokers take 6s at least by default)"},
		{`this.heartbeat_interval.or("3s").parse_duration().catch(null) == null`, "heartbeat_interval: not a duration such as 1s"},
		{`this.heartbeat_interval.or("3s").parse_duration().catch(null).or(1) <= 0`, "heartbeat_interval: must be positive"},
		{`this.heartbeat_interval.or("3s").parse_duration().catch(null).or(0) > this.session_timeout.or("1m").parse_duration().catch(null).or(9223372036854775807)`, "heartbeat_interval: must not be longer than session_timeout"},
		{`this.rebalance_timeout.or("45s").parse_duration().catch(null) == null`, "rebalance_timeout: not a duration such as 45s"},
		{`this.rebalance_timeout.or("45s").parse_duration().catch(null).or(1) <= 0`, "rebalance_timeout: must be positive"},
		{`this.fetch_max_wait.or("5s").parse_duration().catch(null) == null`, "fetch_max_wait: not a duration such as 50ms"},
		{`this.fetch_max_wait.or("5s").parse_duration().catch(null).or(10000000) < 10000000`, "fetch_max_wait: must be at least 10ms"},
		{`this.batch_scope.or("partition") == "poll" && this.batching.count.or(0) == 1`,
			"batch_scope: poll with batching.count: 1 gives one-record batches, which do not span partitions; raise count or use batch_scope: partition"},
	}, clientRule)
	checks = append(checks, txnLintChecks...)
	checks = append(checks, purgeLintChecks...)
	spec = spec.LintRule(lintrule.Lazy("kafka_franz_input", lintRule(checks...), inputEnums()...))

	spec = spec.Example("The seed job's source",
		"Consume `rides` in a consumer group over SASL_SSL with SCRAM-SHA-512 and a JKS truststore, as the Spark job did.",
		`
input:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BOOTSTRAP}" ]
    topics: [ rides ]
    consumer_group: rides-agg
    start_offset: earliest
    tls:
      enabled: true
      truststore_file: /opt/certs/truststore.jks
      truststore_password: "${TRUSTSTORE_PASSWORD}"
    sasl:
      - mechanism: SCRAM-SHA-512
        username: "${KAFKA_USER}"
        password: "${KAFKA_PASS}"
`).Example("In front of an event-time window",
		"Batches span all partitions, like Spark micro-batches, so a backlog read at start-up does not move the window's global watermark past partitions read later. `count` plays Spark's `maxOffsetsPerTrigger`, `period` its trigger interval.",
		`
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ rides ]
    consumer_group: rides-agg
    batch_scope: poll
    checkpoint_limit: 8192
    batching:
      count: 2048
      period: 1s
pipeline:
  threads: 1
  processors:
    - tumbling_window:
        timestamp: this.ts
        size: 5m
        watermark: { delay: 10m }
        group_by: { city: this.city }
        aggregates: { cnt: { op: count } }
`).Example("Explicit partitions",
		"Read partitions 0 to 2 of `rides` from the start, without a group (nothing is committed).",
		`
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ "rides:0-2" ]
    batching:
      count: 500
      period: 1s
`)
	return spec
}

func init() {
	service.MustRegisterBatchInput("kafka_franz", inputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			cc, err := consumerConfigFromParsed(conf)
			if err != nil {
				return nil, err
			}
			policy, err := conf.FieldBatchPolicy(fieldBatching)
			if err != nil {
				return nil, err
			}
			multiHeader, err := conf.FieldBool(fieldMultiHeader)
			if err != nil {
				return nil, err
			}
			scope, err := batchScopeFromParsed(conf, policy)
			if err != nil {
				return nil, err
			}
			txn, period, err := txnFromParsed(conf, cc)
			if err != nil {
				return nil, err
			}
			if txn != nil && mgr.Label() == "" {
				return nil, errTxnLabel
			}
			cc.Txn = txn
			if cc.Purge, err = purgeFromParsed(conf, cc); err != nil {
				return nil, err
			}
			keys, err := conf.FieldStringList(fieldMetadataKeys)
			if err != nil {
				return nil, err
			}
			omit, err := metaKeysOmitted(keys)
			if err != nil {
				return nil, err
			}
			setMeta, err := conf.FieldBool(fieldSetMetadata)
			if err != nil {
				return nil, err
			}
			procs, err := hasBatchProcessors(conf)
			if err != nil {
				return nil, err
			}
			in, err := newReader(cc, policy, procs, metaOptions{multiHeader: multiHeader, lag: cc.Group != "", omit: omit, none: !setMeta}, scope, mgr)
			if err != nil {
				return nil, err
			}
			if in.flushCaughtUp, err = conf.FieldBool(fieldFlushWhenCaughtUp); err != nil {
				return nil, err
			}
			if txn != nil {
				// A nack aborts the transaction and the input re-reads
				// from the committed offsets: no nack replay here.
				txnHandleFor(mgr, mgr.Label()).set(in.cons)
				return newTxnReader(in, period), nil
			}
			replay, err := conf.FieldBool(service.AutoRetryNacksToggleFieldName)
			if err != nil || !replay {
				return in, err // auto_replay_nacks: false drops a nacked batch (the reader's ack)
			}
			if in.batchProcs = procs; procs {
				// A batch is not the messages built from its records: keep
				// Benthos' replay, which copies every batch it hands out.
				return service.AutoRetryNacksBatched(in), nil
			}
			return newReplayReader(in), nil
		})
}

// hasBatchProcessors reports whether the batching policy lists processors.
func hasBatchProcessors(conf *service.ParsedConfig) (bool, error) {
	procs, err := conf.FieldAny(fieldBatching, "processors")
	if err != nil {
		return false, err
	}
	list, _ := procs.([]any)
	return len(list) > 0, nil
}

// consumerConfigFromParsed turns the parsed config into the core's struct,
// re-checking the cross-field rules (lint may be skipped).
func consumerConfigFromParsed(conf *service.ParsedConfig) (franz.ConsumerConfig, error) {
	client, err := clientConfigFromParsed(conf)
	if err != nil {
		return franz.ConsumerConfig{}, err
	}
	f := &fields{conf: conf}
	cc := franz.ConsumerConfig{
		Client:            client,
		RegexpInclude:     f.strs(fieldRegexpInclude),
		RegexpExclude:     f.strs(fieldRegexpExclude),
		Group:             f.str(fieldConsumerGroup),
		StartOffset:       f.str(fieldStartOffset),
		CheckpointLimit:   f.integer(fieldCheckpointLimit),
		CommitPeriod:      f.duration(fieldCommitPeriod),
		FetchMaxWait:      f.duration(fieldFetchMaxWait),
		RackID:            f.str(fieldRackID),
		InstanceID:        f.str(fieldInstanceID),
		SessionTimeout:    f.duration(fieldSessionTimeout),
		RebalanceTimeout:  f.duration(fieldRebalanceTimeout),
		HeartbeatInterval: f.duration(fieldHeartbeatInterval),
		Balancer:          f.str(fieldGroupBalancer),
		FailOnDataLoss:    f.boolean(fieldFailOnDataLoss),
		IsolationLevel:    f.str(fieldIsolationLevel),
		EmptyNotices:      f.boolean(fieldEmptyNotices),
		EmptyNoticeDelay:  f.duration(fieldEmptyNoticesAfter),
		CaughtUpNotices:   f.boolean(fieldCaughtUpNotices),
	}
	topics := f.strs(fieldTopics)
	maxBytes, partBytes, minBytes := f.str(fieldFetchMaxBytes), f.str(fieldFetchMaxPartitionBytes), f.str(fieldFetchMinBytes)
	if f.err != nil {
		return cc, f.err
	}
	if cc.FetchMaxBytes, err = parseBytes(fieldFetchMaxBytes, maxBytes); err != nil {
		return cc, err
	}
	if cc.FetchMaxPartitionBytes, err = parseBytes(fieldFetchMaxPartitionBytes, partBytes); err != nil {
		return cc, err
	}
	if cc.FetchMinBytes, err = parseBytes(fieldFetchMinBytes, minBytes); err != nil {
		return cc, err
	}
	if cc.FetchMaxBytes > 0 && cc.FetchMinBytes > cc.FetchMaxBytes {
		return cc, fmt.Errorf("%s: %s is above %s %s", fieldFetchMinBytes, minBytes, fieldFetchMaxBytes, maxBytes)
	}
	if cc.Topics, err = franz.ParseTopics(topics); err != nil {
		return cc, err
	}
	for _, field := range []string{fieldRegexpInclude, fieldRegexpExclude} {
		for _, re := range f.strs(field) {
			if _, err := regexp.Compile(re); err != nil {
				return cc, fmt.Errorf("%s: %q is not a valid regular expression: %w", field, re, err)
			}
		}
	}
	switch {
	case cc.Topics.Explicit() && cc.Group != "":
		return cc, fmt.Errorf("%s: cannot be used with explicit partitions in %s", fieldConsumerGroup, fieldTopics)
	case !cc.Topics.Explicit() && cc.Group == "":
		return cc, fmt.Errorf("%s: required unless %s names explicit partitions (topic:partition)", fieldConsumerGroup, fieldTopics)
	case len(cc.Topics.Topics) > 0 && len(cc.RegexpInclude) > 0:
		return cc, fmt.Errorf("%s and %s: set one, not both", fieldTopics, fieldRegexpInclude)
	case len(cc.Topics.Topics) == 0 && !cc.Topics.Explicit() && len(cc.RegexpInclude) == 0:
		return cc, fmt.Errorf("%s: at least one topic (or %s) is required", fieldTopics, fieldRegexpInclude)
	case cc.StartOffset == "committed" && cc.Group == "":
		return cc, fmt.Errorf("%s: committed requires a %s", fieldStartOffset, fieldConsumerGroup)
	case cc.Balancer == franz.BalancerSingleOwner && cc.Group == "":
		return cc, fmt.Errorf("%s: %s needs a %s", fieldGroupBalancer, cc.Balancer, fieldConsumerGroup)
	case cc.InstanceID != "" && cc.Group == "":
		return cc, fmt.Errorf("%s: static membership needs a %s", fieldInstanceID, fieldConsumerGroup)
	case cc.EmptyNotices && cc.Group == "":
		return cc, fmt.Errorf("%s: requires a %s", fieldEmptyNotices, fieldConsumerGroup)
	case cc.CaughtUpNotices && cc.Group == "":
		return cc, fmt.Errorf("%s: requires a %s", fieldCaughtUpNotices, fieldConsumerGroup)
	case cc.EmptyNoticeDelay < 0:
		return cc, fmt.Errorf("%s: must not be negative", fieldEmptyNoticesAfter)
	case cc.CheckpointLimit < 1:
		return cc, fmt.Errorf("%s: must be at least 1, got %d", fieldCheckpointLimit, cc.CheckpointLimit)
	}
	return cc, nil
}

// batchScopeFromParsed reads batch_scope, re-checking its lint rule.
func batchScopeFromParsed(conf *service.ParsedConfig, policy service.BatchPolicy) (string, error) {
	scope, err := conf.FieldString(fieldBatchScope)
	if err != nil {
		return "", err
	}
	if scope == scopePoll && policy.Count == 1 {
		return "", fmt.Errorf("%s: poll with %s.count: 1 gives one-record batches, which do not span partitions; raise count or use %s: %s",
			fieldBatchScope, fieldBatching, fieldBatchScope, scopePartition)
	}
	return scope, nil
}

// The options of the input's enum fields (enumfield.NewAnnotated).
var startOffsets = map[string]string{
	"earliest":  "Start from the oldest record of partitions without a commit.",
	"latest":    "Start after the newest record of partitions without a commit.",
	"committed": "Consume only partitions that have a commit (Kafka `auto.offset.reset=none`). Requires a consumer group.",
}
var batchScopes = map[string]string{
	scopePartition: "One batch per topic-partition: each fetched run of a partition's records, or the `batching` policy applied to each partition on its own (Redpanda Connect's behaviour).",
	scopePoll: "Batches span all assigned partitions, like Spark micro-batches. Polls are gathered into rounds: a round holds one fetch of every partition known to have records waiting (each partition's leader may be a different broker, answering in a different poll), " +
		"or what arrived within `fetch_max_wait` if a broker is slow. Without a policy a round is one batch (Spark without `maxOffsetsPerTrigger`). " +
		"With a policy, rounds go to one batcher for all partitions: `count`/`byte_size` cap a batch (Spark's `maxOffsetsPerTrigger`), a larger round being cut in an order that gives every batch a proportional slice of each partition, " +
		"and `period` flushes what has gathered (Spark's trigger interval); with `flush_when_caught_up` a partial batch also goes out once no assigned partition has records left to fetch. A partial batch is flushed when one of its partitions reaches `checkpoint_limit`. " +
		"Cost: a batch waits for the slowest broker of a backlog round and holds more records; a revoked partition's records are removed from a mixed batch by their `kafka_topic`/`kafka_partition` metadata.",
}
var isolationLevels = map[string]string{
	"read_uncommitted": "Read every record, including those of open and aborted transactions.",
	"read_committed":   "Read only records of committed transactions (and non-transactional ones); records of open transactions wait for the commit, aborted ones are skipped.",
}
var groupBalancers = map[string]string{
	franz.BalancerCooperativeSticky: "Spread the partitions over the members, moving as few as possible at a rebalance, without stopping the others (KIP-429; franz-go's and Kafka's default).",
	franz.BalancerSingleOwner: "Give every partition of a topic to one member; the others join the group and stand by. The owner is the member that owns the topic now (a member joining or leaving moves nothing), else the group leader; when it leaves or its session expires, a standby gets the whole topic in the next rebalance. " +
		"For a job that needs the whole topic in one process (`tumbling_window` `stage: full`): N replicas are one active process and N-1 hot standbys instead of N processes holding a part each, which a stage-full window cannot use. It does not spread load: to scale out, use stages `partial` and `merge` (docs/scale-out.md). " +
		"Members with `single_owner` also offer `cooperative_sticky`, which the group falls back to while a member that does not offer `single_owner` is in it (an older version during a rolling update).",
}

// inputEnums are the input's enum fields, for its lint rule.
func inputEnums() []lintrule.Enum {
	return append([]lintrule.Enum{
		{Path: fieldStartOffset, Options: enumfield.Keys(startOffsets)},
		{Path: fieldBatchScope, Options: enumfield.Keys(batchScopes)},
		{Path: fieldIsolationLevel, Options: enumfield.Keys(isolationLevels)},
		{Path: fieldGroupBalancer, Options: enumfield.Keys(groupBalancers)},
	}, clientEnums...)
}
