package deltalake

import (
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/health/healthsvc"
	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/internal/s3conf"
)

// Field names of the delta_lake output.
const (
	fieldPath             = "path"
	fieldSchema           = "schema"
	fieldColName          = "name"
	fieldColType          = "type"
	fieldColNullable      = "nullable"
	fieldPartitionColumns = "partition_columns"
	fieldTableProperties  = "table_properties"
	fieldSchemaEvolution  = "schema_evolution"
	fieldIgnoreUnknown    = "ignore_unknown_columns"
	fieldIdempotency      = "idempotency"
	fieldIdemMode         = "mode"
	fieldIdemAppID        = "app_id"
	fieldIdemGapTimeout   = "sequence_gap_timeout"
	fieldIdemFenceToken   = "fence_token"
	fieldCommitInfo       = "commit_info"
	fieldWriterID         = "writer_id"
	fieldCompression      = "compression"
	fieldTargetFileSize   = "target_file_size"
	fieldOnInvalidRow     = "on_invalid_row"
	fieldCommitAttempts   = "commit_max_attempts"
	fieldAutoCompact      = "auto_compact_every"
	fieldBatching         = "batching"
)

// The options of the enum fields (outputConfigFromParsed reads them with
// enumfield, as lint matches them: case-insensitively).
var (
	idemModes = map[string]string{
		"none":     "At-least-once: no txn action.",
		"sequence": "Exactly-once with the window's `window_emit_seq` metadata.",
		"kafka":    "Exactly-once per Kafka partition with `kafka_topic`, `kafka_partition` and `kafka_offset` metadata.",
	}
	compressions  = []string{"zstd", "snappy", "uncompressed"}
	onInvalidRows = map[string]string{
		"drop": "Log, count and acknowledge the message (it is not written).",
		"fail": "Report the message as failed in a batch error, for a `fallback` dead-letter output.",
	}
)

// schemaFields describe the table columns (shared with delta_lake_validate).
func schemaField() *service.ConfigField {
	return service.NewObjectListField(fieldSchema,
		service.NewStringField(fieldColName).Description("Column name (unique, case-insensitively)."),
		service.NewStringField(fieldColType).
			Description("Delta type: `string`, `long`, `integer`, `short`, `byte`, `double`, `float`, `boolean`, `binary` (base64 text in JSON), `date`, `timestamp` (UTC instant; RFC 3339 text, `yyyy-MM-dd HH:mm:ss[.SSSSSS]` read as UTC, or epoch milliseconds) or `decimal(p,s)`.").
			Example("string").Example("long").Example("timestamp").Example("decimal(12,2)"),
		service.NewBoolField(fieldColNullable).Description("Whether the column accepts nulls; a missing or null value in a non-nullable column makes the row invalid.").Default(true),
	).Description("Table columns, in order. Each message must be a JSON object whose keys are these columns (case-insensitive).").
		Example([]any{
			map[string]any{"name": "city", "type": "string", "nullable": false},
			map[string]any{"name": "revenue", "type": "double"},
			map[string]any{"name": "cnt", "type": "long", "nullable": false},
		})
}

// schemaRuleName is the lint rule of schemaField, which delta_lake and
// delta_lake_validate share (registered once, run from each one's rule).
const schemaRuleName = "delta_schema"

var _ = lintrule.Lazy(schemaRuleName, `root = [
  if this.schema.or([]).map_each(c -> c.name.or("").lowercase()).unique().length() != this.schema.or([]).length() { "schema: column names must be unique, case-insensitively (%v)".format(this.schema.map_each(c -> c.name.or("")).join(", ")) } else { null },
  if this.schema.or([]).any(c -> !c.type.or("").lowercase().re_match("^(string|long|bigint|integer|int|short|smallint|byte|tinyint|double|float|boolean|binary|date|timestamp|decimal|decimal\\(\\s*[0-9]+\\s*,\\s*[0-9]+\\s*\\))$")) { "schema: columns %v have an unsupported type; want string, long, integer, short, byte, double, float, boolean, binary, date, timestamp or decimal(p,s)".format(this.schema.filter(c -> !c.type.or("").lowercase().re_match("^(string|long|bigint|integer|int|short|smallint|byte|tinyint|double|float|boolean|binary|date|timestamp|decimal|decimal\\(\\s*[0-9]+\\s*,\\s*[0-9]+\\s*\\))$")).map_each(c -> c.name.or("?")).join(", ")) } else { null },
].filter(m -> m != null)`)

func outputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Appends messages as rows to a Delta Lake table on a local disk or S3, exactly once with `txn` idempotency.").
		Description(`
Each message is a JSON object mapped to one row of the configured `+"`schema`"+`. Rows of a batch are
written as parquet files (one or more per partition value; DataPageV1, zstd or snappy, timestamps as
INT64 TIMESTAMP(MICROS, UTC)) and committed as one Delta commit with `+"`add`"+` actions carrying
statistics. The table is created on first use (protocol reader 1 / writer 2, no table features) or,
if it exists, validated: an unsupported protocol, other partition columns or a schema that does not
match is refused at start with a message naming the columns.

### Delivery guarantees

A batch is acknowledged only after its commit file exists. Commits are put-if-absent
(`+"`If-None-Match: *`"+` on S3, link-without-replace on disk), so concurrent writers never overwrite each
other; a writer that loses a race re-reads the winners and retries at the next version (blind appends
never conflict). An ambiguous outcome (error after sending) is resolved by reading the commit back.

Exactly-once needs `+"`idempotency`"+`: the commit also records `+"`txn {appId, version}`"+` and rows whose
version is already committed are acknowledged without being written again.
- `+"`sequence`"+`: version = metadata `+"`window_emit_seq`"+` set by `+"`tumbling_window`"+`. A batch whose first
  sequence is beyond the next expected one waits (up to `+"`sequence_gap_timeout`"+`, only when
  `+"`max_in_flight`"+` > 1) for the missing ones, so a later sequence is never committed before an
  earlier one; after the timeout it is written anyway, the gap is logged and counted, and later
  batches no longer wait for it. The commit records the missing sequences in the table as holes
  (txns `+"`<app_id>#hole0`"+`..`+"`#hole15`"+`), so they are still written when they arrive, in this process
  or after a restart (the window re-emits its recent emissions); a hole is given up after 1 024
  later sequences or beyond 16 gaps (logged, `+"`delta_sequence_holes_dropped_total`"+`).
- `+"`kafka`"+`: appId `+"`<app_id>-<topic>-<partition>`"+`, version = the highest `+"`kafka_offset`"+` of that
  partition in the commit (kafka-delta-ingest style, for bronze tables). Needs in-order delivery:
  keep `+"`max_in_flight: 1`"+`.

Without idempotency the output is at-least-once (a replay after a crash writes rows again).

### Invalid rows

A message that does not fit the schema is never retried forever: with `+"`on_invalid_row: drop`"+`
(default) it is logged, counted in `+"`delta_rows_invalid_total{reason}`"+` and acknowledged; with `+"`fail`"+`
it is reported as a failed message of a batch error (for use under a `+"`fallback`"+` output with a
dead-letter output). To dead-letter them in the pipeline instead, put the `+"`delta_lake_validate`"+`
processor (same schema) before the output and route `+"`errored()`"+` messages away.

### Back-pressure and failures

Commits are serialised; at most `+"`max_in_flight`"+` batches wait for their turn. A write blocks while the
store retries (bounded by `+"`commit_max_attempts`"+`), which slows the pipeline instead of dropping data.
A batch that still fails is nacked and retried, never dropped; upstream, the input stops reading once
its `+"`checkpoint_limit`"+` records wait, so memory stays bounded. Once every commit has failed for
`+"`not_ready_after`"+` (the store is down), the output reports itself not connected (`+"`/ready`"+` answers
503) and retries the batch about once a second, after a listing of `+"`_delta_log/`"+` succeeds; when the
store answers again the job resumes by itself, and `+"`txn`"+` idempotency keeps a retried commit from
being applied twice.

### Metrics

`+"`delta_commits_total`"+`, `+"`delta_commit_failures_total`"+`, `+"`delta_commit_retries_total`"+`,
`+"`delta_commit_conflicts_total`"+`, `+"`delta_commit_latency_ns`"+`, `+"`delta_files_written_total`"+`,
`+"`delta_bytes_written_total`"+`, `+"`delta_rows_written_total`"+`, `+"`delta_rows_skipped_total`"+`,
`+"`delta_rows_invalid_total{reason}`"+`, `+"`delta_table_version`"+`, `+"`delta_sequence_gaps_total`"+`,
`+"`delta_sequence_holes_dropped_total`"+`;
`+"`output_failing_seconds`"+` (how long every commit has been failing, 0 while delivering) and
`+"`output_delivery_failures_total`"+`, with the output's `+"`label`"+`.
`).
		Fields(
			service.NewStringField(fieldPath).
				Description("Table location: a directory, `file:///dir`, `s3://bucket/prefix` or `s3a://bucket/prefix`.").
				Example("./data/silver/rides_agg").Example("s3a://lake/silver/rides_agg"),
			schemaField(),
			service.NewStringListField(fieldPartitionColumns).
				Description("Columns to partition by (Hive-style directories; values are read from the log). Not float, double or binary.").
				Default([]any{}).Example([]any{"day"}),
			service.NewStringMapField(fieldTableProperties).
				Description("`metaData.configuration` of a table created by this output (ignored for an existing table). This writer honours `delta.checkpointInterval` (default 10), `delta.dataSkippingNumIndexedCols` (default 32), `delta.dataSkippingStatsColumns`, and `delta.deletedFileRetentionDuration` (VACUUM); a value of these, or a `delta.appendOnly` other than true or false, is refused at start.").
				Default(map[string]any{}).Example(map[string]any{"delta.checkpointInterval": "10", "delta.appendOnly": "true"}),
			service.NewBoolField(fieldSchemaEvolution).
				Description("Add configured columns missing from an existing table (they must be nullable). Otherwise a schema difference is refused.").
				Default(false).Example(true).Advanced(),
			service.NewBoolField(fieldIgnoreUnknown).
				Description("Ignore message keys that are not columns instead of rejecting the row.").
				Default(false).Example(true).Advanced(),
			service.NewObjectField(fieldIdempotency,
				enumfield.NewAnnotated(fieldIdemMode, idemModes).Description("How duplicates are recognised.").Default("none").Example("sequence"),
				service.NewInterpolatedStringField(fieldIdemAppID).
					Description("txn appId (prefix in `kafka` mode). Keep it stable for the life of the window checkpoint: a new checkpoint restarting sequences at 1 needs a new app_id, or every batch is skipped as already written. "+
						"It may interpolate the message, giving each message's rows their own appId and sequence: a scaled-out window (`tumbling_window` `stage: merge`) numbers its emissions per internal partition, so each partition commits under `<app>-<partition>` and a paused replica's late commit of a sequence another replica already wrote is skipped. A message whose interpolation fails or is empty is invalid (`missing_app_id`): end it with `.not_null()` so that a message without the metadata is refused rather than written under `<app>-null`.").
					Default("").Examples("rides_agg", `rides_agg-${! @window_state_partition.not_null() }`),
				service.NewDurationField(fieldIdemGapTimeout).
					Description("In `sequence` mode with `max_in_flight` > 1: how long a batch waits for earlier sequences before it is committed anyway (the missing ones are then recorded in the table as holes and written when they come).").
					Default("10s").Example("30s").Advanced(),
				service.NewInterpolatedStringField(fieldIdemFenceToken).
					Description("`sequence` mode only: this writer's fencing token for the message's appId, an integer 0..2147483647 that grows from one owner of the appId to the next (for a scaled-out window: `@window_fence_token`, the Kafka group generation at which this replica was assigned the internal partition). "+
						"The txn version written is then `token<<32 | sequence` (sequences up to 4294967295). Before committing, the output compares its token with the table's: a higher one in the table means a newer owner took the appId over, and the batch is refused (not committed, nacked, counted in `delta_fenced_total`); a lower one is taken over (sequences up to the table's are already in, and the commit carries this token, which fences the older owner). "+
						"A message with metadata `window_kind: fence` carries no row: it raises its appId's token with a commit of the txn only, so that an older owner is fenced before the new one has rows. "+
						"Empty (the default) or an interpolation giving an empty string: no token (token 0), the txn version is the sequence, as without this field. A value that is not such an integer makes the row invalid (`bad_fence_token`).").
					Default("").Example(`${! @window_fence_token.not_null() }`).Advanced(),
			).Description("Exactly-once settings (txn action in the same commit as the data)."),
			service.NewObjectField(fieldCommitInfo,
				service.NewStringField(fieldWriterID).
					Description("Written as `writerId` in the `commitInfo` of every commit of this output (appends and fences), so the log tells which process made each commit. Empty: not written.").
					Default("").Example("${KAFKA_INSTANCE_ID:}").Example("rides-agg-0"),
			).Description("What each commit records about its writer in `commitInfo` (free-form in the Delta protocol; Spark and delta-rs ignore fields they do not know).").Advanced(),
			enumfield.New(fieldCompression, compressions...).
				Description("Parquet compression codec.").Default("zstd").Example("snappy"),
			service.NewStringField(fieldTargetFileSize).
				Description("Split a partition's rows of one commit into files of about this size (raw value bytes).").
				Default("128MiB").Example("64MiB").Advanced(),
			enumfield.NewAnnotated(fieldOnInvalidRow, onInvalidRows).Description("What happens to a message that does not fit the schema.").Default("drop").Example("fail").Advanced(),
			service.NewIntField(fieldAutoCompact).
				Description("Run OPTIMIZE (bin-pack files smaller than `target_file_size`, `dataChange=false`) after every N commits of this output; 0 = never. It runs inline, so that batch takes longer; a failed compaction is logged and does not fail the batch. `rides-connect delta optimize` does the same from outside.").
				Default(0).Example(100).Advanced(),
			service.NewIntField(fieldCommitAttempts).
				Description("Attempts per commit (lost races, store errors) before the batch fails and is retried by the pipeline.").
				Default(30).Example(100).Advanced(),
			s3conf.Spec("for `s3://` and `s3a://` paths"),
			healthsvc.NotReadyAfterField(),
			service.NewBatchPolicyField(fieldBatching),
			service.NewOutputMaxInFlightField().Default(1),
		).
		LintRule(lintrule.Lazy("delta_lake", `root = [
  if this.idempotency.mode.or("none").lowercase() != "none" && this.idempotency.app_id.or("") == "" { "idempotency.app_id is required when idempotency.mode is %s".format(this.idempotency.mode) } else { null },
  if this.idempotency.fence_token.or("") != "" && this.idempotency.mode.or("none").lowercase() != "sequence" { "idempotency.fence_token needs idempotency.mode: sequence" } else { null },
  if this.idempotency.mode.or("none").lowercase() == "kafka" && this.max_in_flight.or(1) > 1 { "idempotency.mode kafka needs in-order delivery: set max_in_flight to 1" } else { null },
  `+s3conf.LintCheck+`,
  if this.path.or("").trim() == "" { "path: must be a directory, file://, s3://bucket/prefix or memory://name" } else { null },
  `+s3conf.LocationCheck(fieldPath)+`,
  `+lintrule.Call(schemaRuleName)+`,
  if this.partition_columns.or([]).any(p -> !this.schema.or([]).map_each(c -> c.name.lowercase()).contains(p.lowercase())) { "partition_columns %v are not columns of schema".format(this.partition_columns.filter(p -> !this.schema.or([]).map_each(c -> c.name.lowercase()).contains(p.lowercase())).join(", ")) } else { null },
].filter(m -> m != null)`, enums()...)).
		Example("Windowed aggregates, exactly once", "The rides job's silver table on S3 with window-sequence idempotency.", `
output:
  delta_lake:
    path: s3a://lake/silver/rides_agg
    schema:
      - { name: city, type: string, nullable: false }
      - { name: win_start, type: string }
      - { name: win_end, type: string }
      - { name: revenue, type: double }
      - { name: avg_distance, type: double }
      - { name: cnt, type: long, nullable: false }
    table_properties: { delta.checkpointInterval: "10" }
    idempotency: { mode: sequence, app_id: rides_agg }
    s3: { region: eu-west-3, sse: aws:kms }
    batching: { count: 10000, period: 5s }
`).
		Example("Bronze table from Kafka", "Raw rides, one txn per Kafka partition, partitioned by day.", `
output:
  delta_lake:
    path: ./data/bronze/rides
    schema:
      - { name: rideId, type: string, nullable: false }
      - { name: city, type: string }
      - { name: price, type: double }
      - { name: ts, type: timestamp }
      - { name: day, type: date }
    partition_columns: [ day ]
    idempotency: { mode: kafka, app_id: rides_bronze }
    batching: { count: 5000, period: 10s }
    max_in_flight: 1
`)
}

// enums are delta_lake's enum fields, for its lint rule.
func enums() []lintrule.Enum {
	return append([]lintrule.Enum{
		{Path: fieldIdempotency + "." + fieldIdemMode, Options: enumfield.Keys(idemModes)},
		{Path: fieldCompression, Options: compressions},
		{Path: fieldOnInvalidRow, Options: enumfield.Keys(onInvalidRows)},
	}, s3conf.Enums...)
}
