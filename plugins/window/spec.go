// Package window registers the tumbling_window processor: event-time tumbling
// windows with a watermark, Spark Structured Streaming semantics (append mode)
// and state checkpointed in a cache. The rules live in ./engine; this package
// is the Benthos adapter: config, queries, errors, metrics and checkpoints.
package window

import (
	// The lint rules use Bloblang methods registered by the pure components;
	// importing them here registers them in any binary that has this plugin.
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/lintrule"
)

const (
	fTimestamp       = "timestamp"
	fSize            = "size"
	fOffset          = "offset"
	fWatermark       = "watermark"
	fDelay           = "delay"
	fMode            = "mode"
	fIdleTimeout     = "idle_timeout"
	fOrderTimeout    = "order_timeout"
	fEmit            = "emit"
	fGroupBy         = "group_by"
	fAggregates      = "aggregates"
	fOp              = "op"
	fValue           = "value"
	fLateRows        = "late_rows"
	fNullGroupKeys   = "null_group_keys"
	fState           = "state"
	fCache           = "cache"
	fKey             = "key"
	fChangelog       = "changelog"
	fSync            = "sync"
	fOnLost          = "on_lost"
	fRetainEmissions = "retain_emissions"
	fStage           = "stage"
	fBundles         = "bundles"
	fBundlesOutput   = "output"
	fBundlesPeriod   = "period"
	fMaxPending      = "max_pending"

	// heartbeatMeta marks a clock-tick message (see the heartbeat example).
	heartbeatMeta = "window_heartbeat"

	// state.sync values.
	syncBatch  = "batch"
	syncCommit = "commit"
)

// The options of the enum fields (fromParsed reads them with enumfield, as
// lint matches them: case-insensitively).
var (
	watermarkModes = map[string]string{
		"per_partition": "Deterministic (Flink's rule): a row is late iff its window end <= its own partition's max event time before it − delay; windows close when the minimum over all partitions (those not delivered yet included, idle ones excluded) of their max event time − delay passes their end. The table depends only on each partition's records in offset order, never on fetch timing, batch sizes, threads or restarts.",
		"global":        "Spark's: max event time over all partitions − delay, for lateness and closing alike. On a backlog, rows of a partition that is behind the others are dropped depending on how fetches interleave: results change from run to run.",
	}
	emitModes = map[string]string{
		"after_batch": "The watermark advances at the end of each batch and every window it closes is emitted by that batch; a row is late when its window end <= the watermark before its batch. Spark's results when a no-data batch follows each data batch (a live stream): no closed window waits for more input.",
		"next_batch":  "Spark while its trigger keeps finding data (a backlog): a batch emits with the watermark left by the batches before it and judges late rows by the one before that (the two-watermark rule, `allowMultiple=true`). A closed window waits for the next batch, so pair it with heartbeats.",
	}
	lateRowsModes = map[string]string{
		"drop":  "Late rows are dropped (acked) and counted, as Spark does.",
		"error": "Late rows go on errored with `dlq_reason: late_row`, to be routed to a dead-letter output.",
	}
	nullGroupKeysModes = map[string]string{
		"error": "A null or missing key is an invalid row (errored, `bad_group_key`).",
		"group": "Null is a key value of its own, as Spark's groupBy.",
	}
	stages = map[string]string{
		"full":    "The whole window in this process (one replica): rows in, closed windows out.",
		"partial": "Stage 1 of a scaled-out job, on the source topic: judges lateness per source partition as `full` does, folds on-time rows into exact partial aggregates per (window, group key) per batch and emits them (metadata `window_kind: partial`, `window_group_key`: the record key for the internal topic), and after each batch one marker per source partition that progressed (`window_kind: marker`) for every internal partition (`window_marker_partition` = 0..source partitions−1) plus one copy for the changelog (`window_changelog_key` = the source partition p, `window_state_partition` = p: a `kafka_franz` output with `partitioner: manual` and `partition: ${! @window_state_partition }` writes it to partition p of a changelog topic with as many partitions as the source topic, so that a replica's open transaction holds back only its own partitions' progress). Needs the kafka_franz input's metadata (`kafka_topic`, `kafka_partition`, `kafka_offset`, `kafka_topic_partitions`, `kafka_assignment_epoch`) and `state.cache` = a `kafka_changelog` cache on the changelog topic: a partition's progress is read back from it whenever its `kafka_assignment_epoch` changes. A kafka_franz empty-partition notice (`empty_partition_notices`: `kafka_notice: empty_partition`, even one a parser before failed) is announced to every internal partition as a marker `idle` and `empty` at offset -1, which stage 2 takes only for a partition it has no progress of, so a partition that never receives a record holds no window; with `idle_timeout: 0s` notices are not announced (as `full` ignores `kafka_empty_partitions` then). Emits no window rows.",
		"local":   "Stage 1 of a scaled-out job without Kafka transactions, on the source topic (docs/scale-out.md, \"Local stage 1\"): per source partition, the window of `full` closed on that partition's own watermark; each window end it passes sends the partition's final partials of the windows it closes as one bundle per internal partition (metadata `window_kind: bundle`, `window_marker_partition` = the internal partition, 0..source partitions−1: a `kafka_franz` output with `partitioner: manual`), which stage `merge` takes once each, in any order and however often delivered. Each source partition's state is written to `state.cache` (a `checkpoint` cache) before every offset commit of the input (as `state.sync: commit`), under the key `<state.key>-<topic>-<partition>@<offset>` named after the offset that commit makes, and read back under the group's committed offset when the partition's `kafka_assignment_epoch` changes (so a late write from a process that lost the partition is never read back); the states below a commit the broker accepted are deleted; a state missing or behind the group's committed offset is held, not used. Needs the kafka_franz input's metadata (`kafka_topic`, `kafka_partition`, `kafka_offset`, `kafka_topic_partitions`, `kafka_assignment_epoch`, `kafka_assignment_offset`, `kafka_group_generation`). A batch whose first message has metadata `window_stage` (a stage `merge` sets it on all it passes on) is passed on untouched. Emits no window rows. With `bundles.output` (as config/rides.yaml) the processor writes the bundles itself, retrying, and a batch is released once processed. Without it, the output the bundles are passed on to must retry a failed write in place (a `retry` output around it), not nack it: a nack replays only the input messages the failed write maps back to, and the bundles are sent again only when the row whose processing closed their windows is replayed, after a restart or a reassignment.",
		"merge":   "Stage 2, on the internal topic (`read_committed`): per internal partition q (metadata `kafka_partition`), its own state in `state.cache` under `<state.key>-<q>`, reloaded when q's `kafka_assignment_epoch` changes; partials (or a stage `local`'s bundles) merged exactly; the watermark is the minimum over every source partition of its markers (unset until each has reported, idle ones left out); closed windows emitted as `full` emits them, each window with its own `window_emit_seq` of q and metadata `window_state_partition` = q (for `delta_lake` `idempotency.app_id: <app>-${! @window_state_partition.not_null() }`). With the input's `kafka_group_generation` (the generation at which this replica was assigned q), q's rows also carry `window_fence_token` = that generation (for `delta_lake` `idempotency.fence_token`), and when q is (re)loaded one message with no row goes before q's rows: `window_kind: fence`, `window_state_partition` = q, `window_fence_token`, which `delta_lake` commits as a raise of q's fencing token, so that q's previous owner can no longer commit. Every message it passes on (rows, state messages, dead letters) carries metadata `window_stage: merge`, so that an output can route stage 2's dead letters apart and a stage `local` in the same pipeline lets them through. All a batch produces leaves as one batch (dead letters, then per q in order: fence, rows of every window it closed, state), so that the sink commits them together; with the input's `batch_scope: poll` a batch spans internal partitions.",
	}
	aggregateOps = []string{"sum", "avg", "count", "min", "max"}
	syncModes    = []string{syncBatch, syncCommit}
	onLostModes  = []string{onLostHold, onLostResume}
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Windowing").
		Summary("Event-time tumbling windows with a watermark, grouped aggregates and crash-safe checkpointed state, with Spark Structured Streaming's append-mode results.").
		Description(description).
		Field(service.NewStringField(fTimestamp).
			Description("Bloblang query (one expression) giving each message's event time: a timestamp value, an ISO-8601 / RFC 3339 string (no zone means UTC; fraction digits beyond microseconds are truncated), or a unix number in seconds. A missing, null or unparsable time sends the message on errored with `dlq_reason: bad_timestamp`.").
			Examples(`this.ts`, `this.ts_ms / 1000`, `meta("kafka_timestamp_unix").number()`)).
		Field(service.NewDurationField(fSize).
			Description("Window length. Windows are aligned on the Unix epoch in UTC, half-open `[start, start+size)`: an event exactly on a boundary belongs to the later window. Whole milliseconds.").
			Examples("5m", "1h")).
		Field(service.NewDurationField(fOffset).
			Description("Shifts window starts from the epoch (Spark's `startTime`), `0 <= offset < size`.").
			Default("0s").Example("1m").Advanced()).
		Field(service.NewObjectField(fWatermark,
			service.NewDurationField(fDelay).
				Description("How late an event may be: the watermark is the max event time seen minus this delay (Spark's `withWatermark` threshold).").
				Default("0s").Examples("10m"),
			enumfield.NewAnnotated(fMode, watermarkModes).Description("How partitions (metadata `kafka_topic`/`kafka_partition`; `kafka_topic_partitions` names the partitions to wait for) combine into the watermark.").Default("per_partition"),
			enumfield.NewAnnotated(fEmit, emitModes).Description("When a window the watermark has closed is emitted.").Default("after_batch").Advanced(),
			service.NewStringField(fIdleTimeout).
				Description("Processing-time idleness, empty or `0s` = off. With `per_partition`, a partition without data for this long (counted from its last row, or from start-up) stops holding the watermark back, so one silent partition does not stall every window; if it comes back, its rows for windows closed meanwhile are dropped as late (`window_late_rows_closed_early_total`). In both modes, once the whole input is quiet this long, event time is taken to advance with the wall clock from the last max, so the last windows close; this needs heartbeat messages (see the example) because a processor only runs when messages arrive. A partition that has delivered nothing is counted from when the window learnt of it (the topic's partition count, or start-up), so it holds the watermark for this long too (in `stage: partial` and `local`, the input's empty-partition notices announce it to stage 2 instead); a partition that gets its first records after that has its rows for windows closed meanwhile dropped the same way. The only setting whose effect depends on timing: keep it off (`0s`) where exact, repeatable tables matter more than liveness.").
				Default("").Examples("5m", "1m"),
		).Description("The event-time watermark. It advances at the end of each batch and never decreases.")).
		Field(service.NewDurationField(fOrderTimeout).
			Description("With several pipeline threads, a batch waits until the batch before it of each of its partitions (metadata `kafka_prev_offset`, set by kafka_franz) has been through the window, so rows are judged in offset order. If the awaited records never arrive (a processor before the window deletes messages) the batch goes ahead after this long, with a warning and `window_order_timeouts_total`.").
			Default("30s").Advanced()).
		Field(service.NewStringMapField(fGroupBy).
			Description("Group keys: output field name → Bloblang query (one expression). A missing or null key sends the message on errored with `dlq_reason: bad_group_key` (see `null_group_keys`).").
			Example(map[string]any{"city": "this.city"})).
		Field(service.NewObjectMapField(fAggregates,
			enumfield.New(fOp, aggregateOps...).
				Description("`sum`, `avg`, `min`, `max` ignore nulls and are null when every value is null; `avg` is kept as (sum, count). `count` without `value` counts rows (Spark's `count(lit(1))`), with `value` counts non-null values."),
			service.NewStringField(fValue).
				Description("Bloblang query (one expression) giving the number to aggregate; required except for a row count. A non-numeric value sends the message on errored with `dlq_reason: bad_value`.").
				Default("").Example("this.price"),
		).Description("Output aggregates: output field name → {op, value}.").
			Example(map[string]any{"revenue": map[string]any{"op": "sum", "value": "this.price"}, "cnt": map[string]any{"op": "count"}})).
		Field(enumfield.NewAnnotated(fLateRows, lateRowsModes).Description("What to do with a row whose window has already closed.").Default("drop")).
		Field(enumfield.NewAnnotated(fNullGroupKeys, nullGroupKeysModes).Description("How null group keys are handled.").Default("error").Advanced()).
		Field(enumfield.NewAnnotated(fStage, stages).Description("The part of the window this processor runs. `partial` and `merge` split it over replicas through an internal Kafka topic (see docs/scale-out.md); both need `watermark.mode: per_partition`, `watermark.emit: after_batch` and `state.cache`, and the same window config (size, offset, group_by, aggregates) in both stages.").
			Default("full").Advanced()).
		Field(service.NewObjectField(fState,
			service.NewStringField(fCache).
				Description("Label of the cache resource the state is checkpointed into before each batch is released. Use a `checkpoint` cache; caches that expire or evict keys (core `memory`, `lru`) lose state. Empty = no checkpoint: state is lost on restart.").
				Default("").Example("window_state"),
			service.NewStringField(fKey).
				Description("Cache key of this processor's state; empty = the processor's label, else `tumbling_window`. Change it when changing size, offset, group_by or aggregates.").
				Default("").Example("rides_agg"),
			service.NewBoolField(fChangelog).
				Description("Stage `merge` only: instead of writing internal partition q's state into `state.cache`, emit it after each batch as a message (metadata `window_kind: state`, `window_changelog_key` = `<state.key>-<q>`, `window_state_partition` = q) for a `kafka_franz` output to a compacted changelog topic in the transaction of the transactional input (`transaction.input`), and read it back through `state.cache` = a `kafka_changelog` cache on that topic when q's `kafka_assignment_epoch` changes. The state then commits with the consumed offsets or not at all, and a replica whose partitions moved (a zombie) cannot overwrite it: its transaction is fenced (docs/scale-out.md).").
				Default(false).Example(true),
			enumfield.New(fSync, syncModes...).
				Description("Stage `full` with `state.cache`: when the state is written. `batch`: before each batch is released (acked), so the state is durable before any offset commit whatever the input. `commit`: before a batch that emits window rows is released, and before every offset commit of the `kafka_franz` consumers of this process, which commit only offsets acked before a write that succeeded (Kafka Streams' rule: state stores are flushed, then offsets committed); one write per `commit_period` instead of one per batch. After a crash the records after the last commit are read again onto the last written state, whose offset record skips those already counted. A batch with a message that does not come from `kafka_franz` (no `kafka_topic`/`kafka_partition`/`kafka_offset` metadata) is still written before it is released. Use `commit` only when every input feeding the window is `kafka_franz`.").
				Default(syncBatch).Example(syncCommit),
			enumfield.New(fOnLost, onLostModes...).
				Description("Stage `full`, `local` or `partial` with `state.cache`, input `kafka_franz` listing `kafka_assignment_commit` (stage local: a source partition whose state is missing, or stamped behind the group's committed offset; stage partial: a source partition with no progress in the changelog): what to do when the state started empty (nothing in `state.cache`) while the consumer group had committed a partition's offset as progress. Offsets commit only after a state that saw their records was written, so that state was lost (deleted, a new volume): going on would close the first windows without the records before the committed offsets. `hold`: hold the batch, nothing applied, written or committed, log why at ERROR every minute, `window_state_lost` 1. `resume`: go on from the committed offsets with an empty state: only for one run after resetting the offsets (and the state) on purpose; set it back to `hold` once the state is written (a WARN says so at each start while it is set). The start offset `start_offset: latest` commits at assignment is not progress: a process killed before its first state write restarts normally.").
				Default(onLostHold).Example(onLostResume).Advanced(),
			service.NewIntField(fRetainEmissions).
				Description("How many recent emissions are kept in the state for re-emission after a crash or a redelivery. With `sync: commit` an emission is dropped sooner, once the kafka_franz consumer reports every record of the batch that emitted it acknowledged (the rows it emitted are then delivered).").
				Default(16).Advanced(),
		).Description("Durable state.")).
		Field(service.NewObjectField(fBundles,
			service.NewStringField(fBundlesOutput).
				Description("Stage `local` only: label of an output resource (a `kafka_franz` output to the internal topic) that the processor writes its bundles to itself, in the background, retrying until the write succeeds. Empty or `none` (a value an environment variable can give): the bundles are passed on as messages (metadata `window_kind: bundle`) with the batch whose rows closed their windows, and that batch is released once they are written. With an output resource the batch is released as soon as it is processed: its bundles are in its source partitions' state, written before its offsets commit, and sent again by whichever process loads that state, so delivery stays at least once (stage 2 takes each bundle once). The input no longer keeps the batch's records while the bundles are written (docs/scale-out.md).").
				Default("").Example("repartition"),
			service.NewDurationField(fBundlesPeriod).
				Description("With `output`: the longest bundles are gathered before a write. A write waits until every source partition that sent bundles, and is not idle (`watermark.idle_timeout`), has passed the latest window end queued, or for this long: partitions pass a window end close together, so their bundles go in one write (one produce request, one batch and one state write of stage 2). A partition that lags, or went quiet and is not idle yet, delays a window's bundles by this much at most. `0s`: each batch's bundles are written at once.").
				Default("1s").Example("0s"),
			service.NewIntField(fMaxPending).
				Description("With `output`: while this many bundles are unwritten (the internal topic is down or slow) the processor holds new batches, so the input stops reading and the state does not grow without bound.").
				Default(10000),
		).Description("Stage `local`: how bundles leave.").Advanced()).
		LintRule(lintrule.Lazy("tumbling_window", lintRules, enums()...)).
		Example("The rides job", "Spark's `withWatermark(\"ts\", \"10 minutes\").groupBy(window(ts, \"5 minutes\"), city).agg(sum(price), avg(distanceKm), count(lit(1)))` in append mode, with state on disk.", `
pipeline:
  processors:
    - tumbling_window:
        timestamp: this.ts
        size: 5m
        watermark:
          delay: 10m
        group_by:
          city: this.city
        aggregates:
          revenue: { op: sum, value: this.price }
          avg_distance: { op: avg, value: this.distanceKm }
          cnt: { op: count }
        late_rows: drop
        state:
          cache: window_state
          key: rides_agg

cache_resources:
  - label: window_state
    checkpoint:
      url: ./data/checkpoints/rides
`).
		Example("Closing windows when the input goes quiet", "A `generate` heartbeat merged into the input ticks the processor every 5 s (like Spark's trigger). With `idle_timeout`, once no data arrived for 1 min event time advances with the wall clock, so the last windows close. Heartbeats are swallowed.", `
input:
  broker:
    inputs:
      - kafka_franz:
          seed_brokers: [ localhost:9092 ]
          topics: [ rides ]
          consumer_group: rides
      - generate:
          interval: 5s
          mapping: |
            root = {}
            meta window_heartbeat = true

pipeline:
  threads: 1
  processors:
    - tumbling_window:
        timestamp: this.ts
        size: 5m
        watermark:
          delay: 10m
          idle_timeout: 1m
        group_by:
          city: this.city
        aggregates:
          cnt: { op: count }
        state:
          cache: window_state

cache_resources:
  - label: window_state
    checkpoint:
      url: ./data/checkpoints/rides
`)
}

// lintRules are cross-field checks run by `lint`.
const lintRules = `
let size = this.size.or("0s").parse_duration().catch(0)
let offset = this.offset.or("0s").parse_duration().catch(0)
let aggs = this.aggregates.or({})
let groups = this.group_by.or({})
let errs = [
  if $size <= 0 { "size: must be a positive duration such as 5m" } else { null },
  if $offset < 0 || ($size > 0 && $offset >= $size) { "offset: must be >= 0 and less than size" } else { null },
  if $groups.keys().length() == 0 { "group_by: name at least one key, e.g. {city: this.city}" } else { null },
  if $aggs.keys().length() == 0 { "aggregates: name at least one aggregate, e.g. {cnt: {op: count}}" } else { null },
  if this.timestamp.or("").trim() == "" { "timestamp: a query giving the event time is required, e.g. this.ts" } else { null },
]
let stage = this.stage.or("full").lowercase()
let errs = $errs.concat([
  if $stage != "full" && this.watermark.mode.or("per_partition").lowercase() != "per_partition" { "stage %s: needs watermark.mode per_partition".format($stage) } else { null },
  if $stage != "full" && this.watermark.emit.or("after_batch").lowercase() != "after_batch" { "stage %s: needs watermark.emit after_batch".format($stage) } else { null },
  if $stage != "full" && this.state.cache.or("") == "" { "stage %s: state.cache is required".format($stage) } else { null },
  if $stage != "merge" && this.state.changelog.or(false) { "state.changelog: only with stage merge" } else { null },
  if $stage != "local" && !["", "none"].contains(this.bundles.output.or("")) { "bundles.output: only with stage local" } else { null },
  if this.bundles.max_pending.or(10000) < 1 { "bundles.max_pending: must be at least 1" } else { null },
  if this.state.sync.or("batch").lowercase() == "commit" && ($stage != "full" || this.state.cache.or("") == "") { "state.sync: commit needs stage full and state.cache" } else { null },
  if this.state.on_lost.or("hold").lowercase() == "resume" && ($stage == "merge" || this.state.cache.or("") == "") { "state.on_lost: resume applies to stage full, local or partial with state.cache only" } else { null },
])
# An aggregate that is not an object reaches this rule as {value: ""} (lint
# fills in defaults): no op, which a written object would have.
let errs = $errs.concat($aggs.key_values().filter(kv -> kv.value.op.or("") == "").map_each(kv -> "aggregates.%s: want {op: sum|avg|count|min|max, value: <query>}, e.g. {op: sum, value: this.price}".format(kv.key)))
let errs = $errs.concat($aggs.key_values().filter(kv -> kv.value.op.or("") != "" && kv.value.op.or("").lowercase() != "count" && kv.value.value.or("") == "").map_each(kv -> "aggregates.%s: op %s needs a value query".format(kv.key, kv.value.op.or(""))))
let errs = $errs.concat($groups.keys().concat($aggs.keys()).filter(n -> n == "window_start" || n == "window_end").map_each(n -> "%s: window_start and window_end are reserved output fields".format(n)))
let errs = $errs.concat($groups.keys().filter(n -> $aggs.keys().contains(n)).map_each(n -> "aggregates.%s: also a group_by name".format(n)))
let delay = this.watermark.delay.or("0s").parse_duration().catch(-1)
let errs = $errs.concat([
  if $delay < 0 || $delay % 1000000 != 0 { "watermark.delay: must be whole milliseconds >= 0, such as 10m" } else { null },
  if $size > 0 && $size % 1000000 != 0 { "size: must be whole milliseconds" } else { null },
  if !["", "0"].contains(this.watermark.idle_timeout.or("").string()) && this.watermark.idle_timeout.or("").string().parse_duration().catch(-1) < 0 { "watermark.idle_timeout: %v is not a duration such as 1m (empty or 0s = off)".format(this.watermark.idle_timeout) } else { null },
  if this.order_timeout.or("30s").parse_duration().catch(0) <= 0 { "order_timeout: must be a positive duration such as 30s" } else { null },
  if this.bundles.period.or("1s").parse_duration().catch(-1) < 0 { "bundles.period: must be a duration >= 0 such as 1s" } else { null },
])
# Queries are strings to Benthos' linter: their syntax is checked here.
let errs = $errs.concat([ rides_connect_query_error("timestamp", this.timestamp.or("").string()) ])
let errs = $errs.concat($groups.key_values().map_each(kv -> rides_connect_query_error("group_by." + kv.key, kv.value.or("").string())))
let errs = $errs.concat($aggs.key_values().map_each(kv -> rides_connect_query_error("aggregates.%s.value".format(kv.key), kv.value.value.or("").string())))
root = $errs.filter(e -> e != null)
`

// enums are the window's enum fields, for its lint rule.
func enums() []lintrule.Enum {
	return []lintrule.Enum{
		{Path: fWatermark + "." + fMode, Options: enumfield.Keys(watermarkModes)},
		{Path: fWatermark + "." + fEmit, Options: enumfield.Keys(emitModes)},
		{Path: fAggregates + ".*." + fOp, Options: aggregateOps},
		{Path: fLateRows, Options: enumfield.Keys(lateRowsModes)},
		{Path: fNullGroupKeys, Options: enumfield.Keys(nullGroupKeysModes)},
		{Path: fStage, Options: enumfield.Keys(stages)},
		{Path: fState + "." + fSync, Options: syncModes},
		{Path: fState + "." + fOnLost, Options: onLostModes},
	}
}
