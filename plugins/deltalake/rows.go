package deltalake

import (
	"fmt"
	"math"
	"strconv"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// Metadata keys read from messages (docs/architecture.md contracts).
const (
	metaEmitSeq        = "window_emit_seq"
	metaEmittedAt      = "window_emitted_unix_ms"
	metaKafkaTopic     = "kafka_topic"
	metaKafkaPartition = "kafka_partition"
	metaKafkaOffset    = "kafka_offset"
	metaDLQReason      = "dlq_reason"
	// metaKind "fence" marks a message with no row that raises its appId's
	// fencing token (tumbling_window stage merge emits one when it takes an
	// internal partition over).
	metaKind  = "window_kind"
	kindFence = "fence"
)

// isFence reports whether msg is a fence message rather than a row.
func isFence(msg *service.Message) bool {
	k, ok := msg.MetaGetMut(metaKind)
	return ok && k == kindFence
}

// fenceToken evaluates idempotency.fence_token for msg: 0 when unset or
// empty.
func fenceToken(conf *service.InterpolatedString, msg *service.Message) (int64, *invalidRow) {
	if conf == nil {
		return 0, nil
	}
	s, err := conf.TryString(msg)
	if err != nil {
		return 0, &invalidRow{"bad_fence_token", fmt.Errorf("delta_lake: idempotency.fence_token: %w", err)}
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		err = delta.CheckFencedRange(n, 0)
	}
	if err != nil {
		return 0, &invalidRow{"bad_fence_token", fmt.Errorf("delta_lake: idempotency.fence_token gives %q: want an integer 0..%d", s, int64(delta.MaxFenceToken))}
	}
	return n, nil
}

// invalidRow is a message that cannot be written; reason is the dlq_reason.
type invalidRow struct {
	reason string
	err    error
}

func (e *invalidRow) Error() string { return e.err.Error() }

// decodeRow maps a message (a JSON object) to a row of s. A message a
// mapping built is read as it is, not serialised and parsed again (twice:
// delta_lake_validate and the output): with many rows per window that was
// a sixth of the job's CPU. A message of raw bytes is parsed by Benthos,
// numbers as json.Number, as before.
func decodeRow(s delta.Schema, msg *service.Message, ignoreUnknown bool) (delta.Row, *invalidRow) {
	v, err := msg.AsStructured()
	m, ok := v.(map[string]any)
	if err != nil || !ok || m == nil {
		if err == nil {
			err = fmt.Errorf("got %T", v)
		}
		return nil, &invalidRow{"bad_json", fmt.Errorf("delta_lake: message is not a JSON object: %v", err)}
	}
	for k, x := range m {
		// A mapping can make what JSON cannot hold: refused as before, when
		// the message was serialised first and such a value made it empty.
		if f, isFloat := x.(float64); isFloat && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, &invalidRow{"bad_json", fmt.Errorf("delta_lake: field %q is %v, which JSON cannot hold", k, f)}
		}
	}
	row, err := delta.RowFromMap(s, m, ignoreUnknown)
	if err != nil {
		return nil, &invalidRow{"schema_mismatch", err}
	}
	return row, nil
}

// txnKey returns the idempotency key of a message for the mode.
func txnKey(mode, appID string, msg *service.Message) (string, int64, *invalidRow) {
	if mode != "none" && appID == "" {
		return "", 0, &invalidRow{"missing_app_id", fmt.Errorf("delta_lake: idempotency.app_id gives an empty txn appId for this message (an interpolation of missing metadata?)")}
	}
	switch mode {
	case "sequence":
		v, ok := msg.MetaGet(metaEmitSeq)
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return "", 0, &invalidRow{"missing_sequence", fmt.Errorf("delta_lake: idempotency.mode sequence needs metadata %s (set by tumbling_window), got %q", metaEmitSeq, v)}
		}
		if n < 0 || n > delta.MaxFencedSeq {
			return "", 0, &invalidRow{"missing_sequence", fmt.Errorf("delta_lake: metadata %s %d out of range 0..%d", metaEmitSeq, n, int64(delta.MaxFencedSeq))}
		}
		return appID, n, nil
	case "kafka":
		topic, ok1 := msg.MetaGet(metaKafkaTopic)
		part, ok2 := msg.MetaGet(metaKafkaPartition)
		off, ok3 := msg.MetaGet(metaKafkaOffset)
		n, err := strconv.ParseInt(off, 10, 64)
		if !ok1 || !ok2 || !ok3 || err != nil {
			return "", 0, &invalidRow{"missing_offset", fmt.Errorf("delta_lake: idempotency.mode kafka needs metadata kafka_topic, kafka_partition and kafka_offset (an input with kafka_franz set_metadata: false sets none: put a kafka_metadata processor before this output)")}
		}
		return fmt.Sprintf("%s-%s-%s", appID, topic, part), n, nil
	}
	return "", 0, nil
}
