package window

import (
	"fmt"
	"strconv"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// rowError is an invalid row: the reason goes to metadata dlq_reason.
type rowError struct {
	reason string
	err    error
}

func (e *rowError) Error() string { return e.err.Error() }

// queries are the config's Bloblang queries bound to one batch, each made on
// first use: with plain field paths most batches never need them.
type queries struct {
	batch     service.MessageBatch
	conf      *procConfig
	rest      *service.MessageBatchBloblangExecutor
	timestamp *service.MessageBatchBloblangExecutor
	groupBy   []*service.MessageBatchBloblangExecutor
	values    []*service.MessageBatchBloblangExecutor
	// keys caches the canonical key of a single string group key (a city)
	// for this batch: a batch repeats few keys, and each one encoded is an
	// allocation per row.
	keys map[string]string
}

// keyCacheMax bounds queries.keys: past it, keys are encoded per row.
const keyCacheMax = 256

// encodeKey is encodeKey, from the batch's cache for a single string key.
func (q *queries) encodeKey(keys []any) (string, error) {
	if len(keys) != 1 {
		return encodeKey(keys)
	}
	s, ok := keys[0].(string)
	if !ok {
		return encodeKey(keys)
	}
	if k, ok := q.keys[s]; ok {
		return k, nil
	}
	k, err := encodeKey(keys)
	if err == nil && len(q.keys) < keyCacheMax {
		if q.keys == nil {
			q.keys = make(map[string]string)
		}
		q.keys[s] = k
	}
	return k, err
}

func (p *processor) bind(batch service.MessageBatch) *queries {
	return &queries{batch: batch, conf: p.conf}
}

func (q *queries) restExec() *service.MessageBatchBloblangExecutor {
	if q.rest == nil {
		q.rest = q.batch.BloblangExecutor(q.conf.rest)
	}
	return q.rest
}

// perField binds the one-query-per-field executors (the slow path).
func (q *queries) perField() {
	if q.timestamp != nil {
		return
	}
	q.timestamp = q.batch.BloblangExecutor(q.conf.timestamp)
	for _, g := range q.conf.groupBy {
		q.groupBy = append(q.groupBy, q.batch.BloblangExecutor(g))
	}
	for _, v := range q.conf.values {
		var e *service.MessageBatchBloblangExecutor
		if v != nil {
			e = q.batch.BloblangExecutor(v)
		}
		q.values = append(q.values, e)
	}
}

// queryValue runs a query (see lintrule.ParseQuery) from the point of view of message
// i: `this` is its content, meta() its metadata. A deleted value is null.
func queryValue(e *service.MessageBatchBloblangExecutor, i int) (any, error) {
	m, err := e.Query(i)
	if err != nil || m == nil {
		return nil, err
	}
	v, err := m.AsStructured()
	if err != nil {
		return nil, err
	}
	if arr, ok := v.([]any); ok && len(arr) == 1 {
		return arr[0], nil
	}
	return nil, nil
}

// extract turns message i into a row. It reads every query's value into
// vals (scratch of len(conf.slots), reused across messages): plain field
// paths from the message's parsed JSON, the other queries in one Bloblang
// pass. If anything fails there, the per-field queries run again to name the
// failing field, so both paths give the same errors. Values becomes a slice
// of vbuf. It runs outside the state lock.
func (p *processor) extract(batch service.MessageBatch, q *queries, i int, vals []any, vbuf []engine.Value) (engine.Row, *rowError) {
	if !p.gather(batch, q, i, vals) {
		return p.extractByField(batch, q, i)
	}
	c := p.conf
	var row engine.Row
	var err error
	if row.TimeUs, err = parseTimestamp(vals[0]); err != nil {
		return row, &rowError{"bad_timestamp", fmt.Errorf("tumbling_window: timestamp: %w", err)}
	}
	keys := vals[1 : 1+len(c.groupBy)]
	for j, k := range keys {
		if k == nil && !c.nullKeys {
			return row, &rowError{"bad_group_key", fmt.Errorf("tumbling_window: group_by.%s: null or missing", c.engine.GroupNames[j])}
		}
	}
	if row.Key, err = q.encodeKey(keys); err != nil {
		return row, &rowError{"bad_group_key", fmt.Errorf("tumbling_window: group_by: %w", err)}
	}
	row.Values = vbuf
	for j, slot := range c.valueSlot {
		if slot < 0 {
			continue
		}
		if row.Values[j], err = engine.ParseValue(vals[slot]); err != nil {
			return row, &rowError{"bad_value", fmt.Errorf("tumbling_window: aggregates.%s.value: %w", c.engine.Aggregates[j].Name, err)}
		}
	}
	setRowPosition(&row, batch[i])
	return row, nil
}

// gather fills vals for message i; false sends it to the per-field path.
func (p *processor) gather(batch service.MessageBatch, q *queries, i int, vals []any) bool {
	c := p.conf
	if c.hasPaths {
		// Parsed once and cached in the message: the Bloblang path and
		// later processors reuse it.
		root, err := batch[i].AsStructured()
		if err != nil {
			return false // not JSON: Bloblang words the error
		}
		for j, fp := range c.paths {
			if fp == nil {
				continue
			}
			v, ok := fp.lookup(root)
			if !ok {
				return false
			}
			vals[j] = v
		}
	}
	if c.rest == nil {
		return true
	}
	m, err := q.restExec().Query(i)
	if err != nil || m == nil {
		return false
	}
	v, err := m.AsStructured()
	arr, ok := v.([]any)
	if err != nil || !ok || len(arr) != len(c.restSlots) {
		return false // a deleted value shortened the array
	}
	for k, slot := range c.restSlots {
		vals[slot] = arr[k]
	}
	return true
}

// extractByField is the slow path: one query per field, so an error names it.
func (p *processor) extractByField(batch service.MessageBatch, q *queries, i int) (engine.Row, *rowError) {
	q.perField()
	var row engine.Row
	tv, err := queryValue(q.timestamp, i)
	if err == nil {
		row.TimeUs, err = parseTimestamp(tv)
	}
	if err != nil {
		return row, &rowError{"bad_timestamp", fmt.Errorf("tumbling_window: timestamp: %w", err)}
	}
	keys := make([]any, len(p.conf.groupBy))
	for j, g := range q.groupBy {
		v, err := queryValue(g, i)
		if err == nil && v == nil && !p.conf.nullKeys {
			err = fmt.Errorf("null or missing")
		}
		if err != nil {
			return row, &rowError{"bad_group_key", fmt.Errorf("tumbling_window: group_by.%s: %w", p.conf.engine.GroupNames[j], err)}
		}
		keys[j] = v
	}
	if row.Key, err = encodeKey(keys); err != nil {
		return row, &rowError{"bad_group_key", fmt.Errorf("tumbling_window: group_by: %w", err)}
	}
	row.Values = make([]engine.Value, len(p.conf.values))
	for j, e := range q.values {
		if e == nil {
			continue
		}
		v, err := queryValue(e, i)
		if err == nil {
			row.Values[j], err = engine.ParseValue(v)
		}
		if err != nil {
			return row, &rowError{"bad_value", fmt.Errorf("tumbling_window: aggregates.%s.value: %w", p.conf.engine.Aggregates[j].Name, err)}
		}
	}
	setRowPosition(&row, batch[i])
	return row, nil
}

// Metadata set by the kafka_franz input beyond Redpanda Connect's.
const (
	partitionsMeta      = "kafka_topic_partitions" // the topic's partition count
	prevOffsetMeta      = "kafka_prev_offset"      // the partition's previous record
	emptyPartitionsMeta = "kafka_empty_partitions" // partitions with nothing to read yet
	noticeMeta          = "kafka_notice"           // a message of the input, not of a record
	noticeEmpty         = "empty_partition"        // kafka_notice: its kafka_empty_partitions have nothing to read
	noticeCaughtUp      = "caught_up"              // kafka_notice: its partition is read to its end (announces nothing)
)

// setRowPosition reads a row's Kafka coordinates, its topic's partition
// count (0 if not known) and the partitions with nothing to read, from the
// message's record once (kafkarecord) or from its metadata.
func setRowPosition(row *engine.Row, m *service.Message) {
	if r, ok := kafkarecord.Of(m); ok {
		if row.Pos, row.HasPos = recordPosition(r); row.HasPos {
			n, _ := r.Int(partitionsMeta)
			row.Partitions = int32(n)
		}
		row.Empty = r.EmptyPartitions()
		return
	}
	row.Pos, row.HasPos = position(m)
	if row.HasPos {
		n, _ := metaInt(m, partitionsMeta)
		row.Partitions = int32(n)
	}
	row.Empty = emptyPartitions(m)
}

// emptyPartitions reads kafka_empty_partitions (engine.Row.Empty). The key
// is absent while every partition delivers (a backlog, a busy stream), where
// this costs one map miss per row.
func emptyPartitions(m *service.Message) []int32 {
	if r, ok := kafkarecord.Of(m); ok {
		if e := r.EmptyPartitions(); e != nil {
			return e
		}
	}
	v, ok := m.MetaGetMut(emptyPartitionsMeta)
	if !ok {
		return nil
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil
	}
	out := make([]int32, 0, len(list))
	for _, x := range list {
		switch n := x.(type) {
		case int:
			out = append(out, int32(n))
		case int64:
			out = append(out, int32(n))
		case float64:
			out = append(out, int32(n))
		}
	}
	return out
}

// position reads the Kafka coordinates set by the kafka_franz input.
func position(m *service.Message) (engine.Position, bool) {
	if r, ok := kafkarecord.Of(m); ok {
		return recordPosition(r)
	}
	topic, ok := m.MetaGet("kafka_topic")
	if !ok {
		return engine.Position{}, false
	}
	part, ok1 := metaInt(m, "kafka_partition")
	off, ok2 := metaInt(m, "kafka_offset")
	if !ok1 || !ok2 {
		return engine.Position{}, false
	}
	return engine.Position{Topic: topic, Partition: int32(part), Offset: off}, true
}

// recordPosition is position for a message's Kafka record: kafka_offset only
// if the input's metadata_keys gives it, as in metadata.
func recordPosition(r kafkarecord.Record) (engine.Position, bool) {
	topic, tok := r.String("kafka_topic")
	part, pok := r.Int("kafka_partition")
	off, ook := r.Int("kafka_offset")
	if !tok || !pok || !ook {
		return engine.Position{}, false
	}
	return engine.Position{Topic: topic, Partition: int32(part), Offset: off}, true
}

// metaInt reads an integer the input gives a message: from its Kafka record
// (kafkarecord: kafka_franz, with or without set_metadata) when it has one,
// else from its metadata (another input, a config test, a mapping).
func metaInt(m *service.Message, key string) (int64, bool) {
	if r, ok := kafkarecord.Of(m); ok {
		if n, ok := r.Int(key); ok {
			return n, true
		}
	}
	v, ok := m.MetaGetMut(key)
	if !ok {
		return 0, false
	}
	switch t := v.(type) {
	case int64:
		return t, true
	case int:
		return int64(t), true
	case int32:
		return int64(t), true
	case uint64:
		return int64(t), true
	case float64:
		return int64(t), t == float64(int64(t))
	case string:
		n, err := strconv.ParseInt(t, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// metaString reads a string the input gives a message, as metaInt.
func metaString(m *service.Message, key string) (string, bool) {
	if r, ok := kafkarecord.Of(m); ok {
		if s, ok := r.String(key); ok {
			return s, true
		}
	}
	return m.MetaGet(key)
}

// noticeRow reads a kafka_franz empty-partition notice (input option
// empty_partition_notices: a message without a record, metadata kafka_notice
// empty_partition) as a heartbeat row naming the topic's partitions with
// nothing to read: stage partial announces them to stage 2, stage full lets
// them stop holding the watermark in this batch. A caught-up notice
// (caught_up_notices, kafka_notice caught_up) is the same row naming none:
// it only tells stage local to load its partition (ofPartition). A notice
// is never data, and never a dead letter, even when a processor before the
// window (a parser: it has no body) failed it.
func noticeRow(m *service.Message) (engine.Row, bool) {
	if v, ok := m.MetaGet(noticeMeta); !ok || v != noticeEmpty && v != noticeCaughtUp {
		return engine.Row{}, false
	}
	topic, _ := m.MetaGet("kafka_topic")
	part, _ := metaInt(m, "kafka_partition")
	n, _ := metaInt(m, partitionsMeta)
	return engine.Row{Heartbeat: true, Pos: engine.Position{Topic: topic, Partition: int32(part)},
		Partitions: int32(n), Empty: emptyPartitions(m)}, true
}

// isKafkaRecord reports a message read from Kafka (kafka_franz always gives
// its partition): never a heartbeat, whatever a producer's header says, or a
// header window_heartbeat would make the window swallow a ride uncounted.
func isKafkaRecord(m *service.Message) bool {
	_, ok := metaInt(m, "kafka_partition")
	return ok
}

func isHeartbeat(m *service.Message) bool {
	v, ok := m.MetaGetMut(heartbeatMeta)
	if !ok {
		return false
	}
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return t == "true"
	}
	return false
}
