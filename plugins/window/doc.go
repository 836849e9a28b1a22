package window

const description = `
Assigns each message to an epoch-aligned UTC tumbling window ` + "`[start, start+size)`" + ` by its event
time, aggregates per (window, group key), and emits one message per (window, key) once the
event-time watermark has passed the window's end — Spark Structured Streaming's append mode.
Full semantics, Spark parity and divergences: docs/window.md.

### Watermark and late rows: deterministic by default
With ` + "`watermark.mode: per_partition`" + ` (the default) a row is late iff its window end <= the max event
time of the rows before it *in its own partition* − ` + "`watermark.delay`" + `, and a window closes when the
minimum over all the topic's partitions (metadata ` + "`kafka_topic_partitions`" + `; partitions that have not
delivered yet hold it back) of their max event time − delay passes its end. Sums are exact. The
output therefore depends only on each partition's records in offset order — never on fetch timing,
batch sizes, pipeline threads or restarts. ` + "`watermark.idle_timeout`" + ` (processing time) lets a silent
partition stop holding windows back; it is the only timing-dependent setting. ` + "`mode: global`" + ` is
Spark's rule (max over all partitions − delay), whose results on a backlog depend on how partitions
are fetched. The ` + "`kafka_*`" + ` values are read from the message's Kafka record when ` + "`kafka_franz`" + ` was told
` + "`set_metadata: false`" + ` (config/rides.yaml: no metadata map per ride), from its metadata otherwise. ` + "`watermark.emit`" + ` chooses the timing:

- ` + "`after_batch`" + ` (default): rows are judged, the others aggregated, W advances at the end of
  the batch and every open (window, key) whose end <= W is emitted, exactly once, then evicted —
  Spark's result on a live stream, where a no-data batch follows each data batch.
- ` + "`next_batch`" + `: Spark while its trigger keeps finding data (a backlog): a batch evicts with W as
  it stood before the batch (with ` + "`mode: global`" + `, late rows are judged against the W before that:
  the two-watermark rule, ` + "`allowMultiple=true`" + `), then advances W. A closed window is emitted by the
  next batch; pair it with a heartbeat input.

Late rows are dropped and counted (` + "`late_rows: drop`" + `) or passed on errored.

### Output
Each emitted message is JSON: the group keys and aggregates by name, ` + "`window_start`" + ` and
` + "`window_end`" + ` (RFC 3339 UTC, milliseconds). Metadata: ` + "`window_start_ms`" + `, ` + "`window_end_ms`" + `,
` + "`window_id`" + ` (stable identity of window and key) and ` + "`window_emit_seq`" + ` (1, 2, 3… one number per
emitting batch; a re-emission carries the original number). Each emission is returned as its own
batch; rows passed on errored form another batch; swallowed rows (aggregated, dropped late,
replayed, heartbeats) are acked.

### Delivery guarantees
Messages already carrying an error pass through untouched. Invalid rows (bad time, key or value)
are never aggregated: they go on errored with metadata ` + "`dlq_reason`" + ` (` + "`bad_timestamp`" + `,
` + "`bad_group_key`" + `, ` + "`bad_value`" + `). Before a batch is released the whole state — open windows,
watermark, applied offsets per topic-partition, emission sequence and the recent emissions — is
written to ` + "`state.cache`" + `, so the acks that let the input commit offsets never run ahead of the
state. A message whose (` + "`kafka_topic`" + `, ` + "`kafka_partition`" + `, ` + "`kafka_offset`" + `) was already applied is
not applied again. After a restart the retained emissions are re-emitted once with the same
identity, and again whenever a message of the batch that produced them is redelivered; the sink
must drop repeats by ` + "`window_emit_seq`" + ` (delta_lake ` + "`idempotency.mode: sequence`" + `). The result is
effectively exactly-once into the sink, provided emissions reach it in sequence order
(` + "`pipeline.threads: 1`" + ` and an output that retries rather than skips).

### Queries
A query that is a plain field path (` + "`this.ts`" + `, ` + "`this.a.b`" + `) is read from the message's parsed
JSON (decoded once per message, and not at all when an earlier processor already parsed it); the
other queries run together in one Bloblang pass. Both give the same values and the same errors.

### Back-pressure and concurrency
The processor is safe under any ` + "`pipeline.threads`" + `; batches are applied one at a time, each
partition's in offset order (a batch waits for the one before it, chained by kafka_franz's
` + "`kafka_prev_offset`" + `, at most ` + "`order_timeout`" + `). A
checkpoint that cannot be written is retried with back-off while the batch is held, which
back-pressures the input; on shutdown the in-memory state is rolled back to the last checkpoint.
State is bounded by open windows × keys, not by the number of events.
`
