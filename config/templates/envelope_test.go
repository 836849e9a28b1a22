package templates_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/miaradia/rides-connect/config/templates"
	_ "github.com/miaradia/rides-connect/plugins/kafkafranz" // kafka_metadata, the envelope's first step
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// dlqMaxBytes is the dead-letter output's max_message_bytes in config/rides.yaml and
// config/bronze.yaml: an envelope above it is refused by the producer on every retry.
const dlqMaxBytes = 8 << 20

// envelope runs one errored message (its error is errText) through dead_letter_envelope and
// returns the envelope's bytes.
func envelope(t *testing.T, value []byte, errText string) []byte {
	t.Helper()
	b, _ := envelopeKey(t, value, errText, "k1")
	return b
}

// envelopeKey also sets metadata kafka_key (unless key is empty) and returns the one the
// dead-letter output reads ("<absent>" if none).
func envelopeKey(t *testing.T, value []byte, errText, key string) ([]byte, string) {
	t.Helper()
	sb := service.NewStreamBuilder()
	sb.SetLoggerYAML("level: none")
	produce, err := sb.AddProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	// The error is thrown by a mapping, as a parse error is set by the parse step.
	if err := sb.AddProcessorYAML(`mapping: 'root = throw(metadata("err"))'`); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddProcessorYAML("dead_letter_envelope: {}"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []byte
	outKey := "<absent>"
	if err := sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		b, err := m.AsBytes()
		mu.Lock()
		out = append([]byte(nil), b...)
		if k, ok := m.MetaGet("kafka_key"); ok {
			outKey = k
		}
		mu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	msg := service.NewMessage(value)
	msg.MetaSetMut("err", errText)
	msg.MetaSetMut("kafka_topic", "rides")
	msg.MetaSetMut("kafka_partition", "2")
	msg.MetaSetMut("kafka_offset", "41")
	if key != "" {
		msg.MetaSetMut("kafka_key", key)
	}
	if err := produce(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := stream.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if out == nil {
		t.Fatal("no envelope came out")
	}
	return out, outKey
}

type env struct {
	Reason         string            `json:"reason"`
	Error          string            `json:"error"`
	Value          string            `json:"value"`
	ValueBytes     *int              `json:"value_bytes"`
	ValueTruncated *bool             `json:"value_truncated"`
	KeyBytes       *int              `json:"key_bytes"`
	Source         map[string]string `json:"source"`
}

func decode(t *testing.T, b []byte) env {
	t.Helper()
	var e env
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("envelope is not JSON: %v", err)
	}
	return e
}

func TestSmallDeadLetterKeepsItsWholeValue(t *testing.T) {
	b, key := envelopeKey(t, []byte("not json"), "bad_json: the record value is not a JSON object", "ride-7")
	e := decode(t, b)
	if e.Value != "not json" || e.Reason != "bad_json" || e.ValueTruncated != nil || e.ValueBytes != nil || e.KeyBytes != nil || key != "ride-7" {
		t.Fatalf("envelope changed for a small record: %+v, key %q", e, key)
	}
	if e.Source["topic"] != "rides" || e.Source["partition"] != "2" || e.Source["offset"] != "41" {
		t.Fatalf("source: %v", e.Source)
	}
	if _, key := envelopeKey(t, []byte("not json"), "bad_json: x", ""); key != "<absent>" {
		t.Fatalf("a record without a key got kafka_key %q", key)
	}
}

// A record of control bytes grows six times in the envelope (\u0001). One of 3 MiB fits a
// topic with the default 1 MB limit once compressed (the limit applies to the compressed batch),
// and its 18 MiB envelope was refused by the dead-letter producer on every retry: the partition
// never committed past it and the job stalled once checkpoint_limit records piled up behind it.
func TestAHugeDeadLetterFitsTheDeadLetterTopic(t *testing.T) {
	value := bytes.Repeat([]byte{1}, 3<<20)
	b := envelope(t, value, "bad_json: the record value is not a JSON object")
	if len(b) > dlqMaxBytes {
		t.Fatalf("envelope of %d bytes, above the dead-letter output's %d", len(b), dlqMaxBytes)
	}
	e := decode(t, b)
	if e.ValueTruncated == nil || !*e.ValueTruncated || e.ValueBytes == nil || *e.ValueBytes != len(value) {
		t.Fatalf("a cut value must say so and give the record's size: truncated %v bytes %v", e.ValueTruncated, e.ValueBytes)
	}
	if e.Reason != "bad_json" || e.Source["offset"] != "41" || len(e.Value) == 0 || !strings.HasPrefix(string(value), e.Value) {
		t.Fatalf("reason %q, source %v, value of %d bytes", e.Reason, e.Source, len(e.Value))
	}
}

// The error can quote the record (bad_timestamp quotes the ts string): it is bounded too.
func TestAHugeErrorTextIsCut(t *testing.T) {
	ts := strings.Repeat("\x01", 3<<20)
	b := envelope(t, []byte(`{"ts":"x"}`), "bad_timestamp: not an ISO-8601 timestamp: "+ts)
	if len(b) > dlqMaxBytes {
		t.Fatalf("envelope of %d bytes, above the dead-letter output's %d", len(b), dlqMaxBytes)
	}
	if e := decode(t, b); e.Reason != "bad_timestamp" || !strings.Contains(e.Error, "bad_timestamp: not an ISO-8601") || len(e.Error) > 65536 {
		t.Fatalf("reason %q error %.60q", e.Reason, e.Error)
	}
}

// The dead-letter record carries the record's key unescaped next to the envelope: a 2.5 MB key
// (compressed, it fits a 1 MB topic) beside a 1.4 MB value of control bytes made a record of
// 8.8 MB, refused on every retry even with the value cut.
func TestAHugeKeyIsCut(t *testing.T) {
	key := strings.Repeat("\x01", 5<<19)
	b, outKey := envelopeKey(t, bytes.Repeat([]byte{1}, 3<<20), "bad_json: the record value is not a JSON object", key)
	if len(b)+len(outKey) > dlqMaxBytes {
		t.Fatalf("envelope %d + key %d bytes, above the dead-letter output's %d", len(b), len(outKey), dlqMaxBytes)
	}
	if e := decode(t, b); e.KeyBytes == nil || *e.KeyBytes != len(key) || !strings.HasPrefix(key, outKey) || outKey == "" {
		t.Fatalf("a cut key must keep its start and give its size: key_bytes %v, key of %d bytes", e.KeyBytes, len(outKey))
	}
}
