package window

import (
	"fmt"
	"strconv"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// rowError is an invalid row: the reason goes to metadata dlq_reason.
type rowError struct {
	reason string
	err    error
}

func (e *rowError) Error() string { return e.err.Error() }

// queries are the config's queries bound to one batch.
type queries struct {
	all       *service.MessageBatchBloblangExecutor
	timestamp *service.MessageBatchBloblangExecutor
	groupBy   []*service.MessageBatchBloblangExecutor
	values    []*service.MessageBatchBloblangExecutor
}

func (p *processor) bind(batch service.MessageBatch) *queries {
	q := &queries{all: batch.BloblangExecutor(p.conf.all), timestamp: batch.BloblangExecutor(p.conf.timestamp)}
	for _, g := range p.conf.groupBy {
		q.groupBy = append(q.groupBy, batch.BloblangExecutor(g))
	}
	for _, v := range p.conf.values {
		var e *service.MessageBatchBloblangExecutor
		if v != nil {
			e = batch.BloblangExecutor(v)
		}
		q.values = append(q.values, e)
	}
	return q
}

// queryValue runs a query (see parseQuery) from the point of view of message
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

// extract evaluates the queries for message i in one pass; if that fails, the
// per-field queries name the failing field. It runs outside the state lock.
func (p *processor) extract(batch service.MessageBatch, q *queries, i int) (engine.Row, *rowError) {
	m, err := q.all.Query(i)
	if err != nil || m == nil {
		return p.extractByField(batch, q, i)
	}
	v, err := m.AsStructured()
	vals, ok := v.([]any)
	if err != nil || !ok || len(vals) != 1+len(p.conf.groupBy)+countSlots(p.conf.valueSlot) {
		return p.extractByField(batch, q, i) // a deleted value shortened the array
	}
	var row engine.Row
	if row.TimeUs, err = engine.ParseTimestamp(vals[0]); err != nil {
		return row, &rowError{"bad_timestamp", fmt.Errorf("tumbling_window: timestamp: %w", err)}
	}
	keys := vals[1 : 1+len(p.conf.groupBy)]
	for j, k := range keys {
		if k == nil && !p.conf.nullKeys {
			return row, &rowError{"bad_group_key", fmt.Errorf("tumbling_window: group_by.%s: null or missing", p.conf.engine.GroupNames[j])}
		}
	}
	if row.Key, err = engine.EncodeKey(keys); err != nil {
		return row, &rowError{"bad_group_key", fmt.Errorf("tumbling_window: group_by: %w", err)}
	}
	row.Values = make([]engine.Value, len(p.conf.valueSlot))
	for j, slot := range p.conf.valueSlot {
		if slot < 0 {
			continue
		}
		if row.Values[j], err = engine.ParseValue(vals[slot]); err != nil {
			return row, &rowError{"bad_value", fmt.Errorf("tumbling_window: aggregates.%s.value: %w", p.conf.engine.Aggregates[j].Name, err)}
		}
	}
	row.Pos, row.HasPos = position(batch[i])
	return row, nil
}

func countSlots(slots []int) int {
	n := 0
	for _, s := range slots {
		if s >= 0 {
			n++
		}
	}
	return n
}

// extractByField is the slow path: one query per field, so an error names it.
func (p *processor) extractByField(batch service.MessageBatch, q *queries, i int) (engine.Row, *rowError) {
	var row engine.Row
	tv, err := queryValue(q.timestamp, i)
	if err == nil {
		row.TimeUs, err = engine.ParseTimestamp(tv)
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
	if row.Key, err = engine.EncodeKey(keys); err != nil {
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
	row.Pos, row.HasPos = position(batch[i])
	return row, nil
}

// position reads the Kafka coordinates set by the kafka_franz input.
func position(m *service.Message) (engine.Position, bool) {
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

func metaInt(m *service.Message, key string) (int64, bool) {
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
