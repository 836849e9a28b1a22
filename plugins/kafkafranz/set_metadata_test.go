package kafkafranz

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
)

// readAll runs the input until it has handed out n records and returns them
// by "partition/offset" (from their kafkarecord with set_metadata: false,
// else from their metadata), as delivered.
func readAll(t *testing.T, inputYAML string, n int) map[string]*service.Message {
	t.Helper()
	var mu sync.Mutex
	got := map[string]*service.Message{}
	done := make(chan struct{})
	stop := runInput(t, inputYAML, func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b {
			at := fmt.Sprintf("%d/%d", metaInt(m, "kafka_partition"), metaInt(m, "kafka_offset"))
			if r, ok := kafkarecord.Of(m); ok {
				_, p, off := r.Position()
				at = fmt.Sprintf("%d/%d", p, off)
			}
			got[at] = m
		}
		if len(got) == n {
			close(done)
		}
		return nil
	})
	defer stop()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // hang guard
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(got)
}

func metadataOf(m *service.Message) map[string]any {
	out := map[string]any{}
	_ = m.MetaWalkMut(func(k string, v any) error { out[k] = v; return nil })
	return out
}

// set_metadata: false hands out records without metadata (and true without
// a kafkarecord); their kafkarecord
// answers each key as the metadata of set_metadata: true says (same keys, same
// metadata_keys rules), and kafka_metadata puts exactly that metadata back.
func TestSetMetadataFalseCarriesTheRecordInstead(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "rides"))
	recs := []*kgo.Record{
		{Topic: "rides", Partition: 0, Key: []byte("k0"), Value: []byte("a")},
		{Topic: "rides", Partition: 0, Key: []byte("k1"), Value: []byte("b"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}},
		{Topic: "rides", Partition: 1, Value: []byte("c")},
		{Topic: "rides", Partition: 0, Key: []byte("k3"), Value: nil},
	}
	produceRecords(t, addr, recs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ints := []string{"kafka_partition", "kafka_offset", "kafka_prev_offset", "kafka_topic_partitions", "kafka_assignment_epoch",
		"kafka_assignment_offset", "kafka_group_generation", "kafka_timestamp_unix", "kafka_timestamp_ms", "kafka_lag"}
	strs := []string{"kafka_topic", "kafka_key", "kafka_assignment_commit"}
	for _, c := range []struct{ name, keys string }{
		{"all keys", ""},
		{"listed keys", "  metadata_keys: [ kafka_key, kafka_offset, kafka_topic_partitions ]\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := readAll(t, groupInput(addr, "g-meta-"+c.name, c.keys), len(recs))
			got := readAll(t, groupInput(addr, "g-none-"+c.name, c.keys+"  set_metadata: false\n"), len(recs))
			if len(got) != len(want) {
				t.Fatalf("records %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
			for at, m := range want {
				if _, ok := kafkarecord.Of(m); ok {
					t.Errorf("%s: set_metadata true also attached the record", at)
				}
			}
			for at, m := range got {
				if keys := metaKeysOf(m); len(keys) > 0 {
					t.Errorf("%s: set_metadata false set %v", at, keys)
				}
				wm := metadataOf(want[at])
				r, _ := kafkarecord.Of(m)
				for _, k := range ints {
					n, ok := r.Int(k)
					w, wok := wm[k]
					if ok != wok || (ok && int64(toInt(t, w)) != n) {
						t.Errorf("%s: record %s = %d, %v; metadata says %v, %v", at, k, n, ok, w, wok)
					}
				}
				for _, k := range strs {
					s, ok := r.String(k)
					w, wok := wm[k]
					if ok != wok || (ok && w != s) {
						t.Errorf("%s: record %s = %q, %v; metadata says %v, %v", at, k, s, ok, w, wok)
					}
				}
				if gm := metadataOf(throughKafkaMetadata(t, m)); !reflect.DeepEqual(gm, wm) {
					t.Errorf("%s: kafka_metadata set %v, want %v", at, gm, wm)
				}
			}
		})
	}
}

func toInt(t *testing.T, v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	}
	t.Fatalf("not an int: %#v", v)
	return 0
}

// kafka_metadata leaves a message that did not come from kafka_franz as it is.
func TestKafkaMetadataPassesOtherMessages(t *testing.T) {
	m := service.NewMessage([]byte("x"))
	m.MetaSetMut("window_emit_seq", 3)
	out, err := metadataProcessor{}.Process(context.Background(), m)
	if err != nil || len(out) != 1 || !reflect.DeepEqual(metadataOf(out[0]), map[string]any{"window_emit_seq": 3}) {
		t.Fatalf("got %v, %v", out, err)
	}
}

// A header named like one of the input's keys is not set, in either mode: a
// producer's kafka_offset, kafka_key or kafka_notice cannot pose as the
// record's own (the dead letter's source and key, a notice); other headers are.
func TestAHeaderCannotPoseAsTheInputsMetadata(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	rec := &kgo.Record{Topic: "rides", Key: []byte("own-key"), Value: []byte("x"), Headers: []kgo.RecordHeader{
		{Key: "kafka_offset", Value: []byte("not a number")}, {Key: "kafka_key", Value: []byte("forged")},
		{Key: "kafka_notice", Value: []byte("empty_partition")}, {Key: "kafka_lag", Value: []byte("7")},
		{Key: "trace", Value: []byte("abc")}}}
	produceRecords(t, addr, []*kgo.Record{rec})
	for _, c := range []struct{ name, extra string }{
		{"set_metadata true", "  metadata_keys: [ kafka_key, kafka_offset ]\n"},
		{"set_metadata false", "  metadata_keys: [ kafka_key, kafka_offset ]\n  set_metadata: false\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := readAll(t, groupInput(addr, "g-hdr-"+c.name, c.extra), 1)["0/0"]
			if m == nil {
				t.Fatal("record 0/0 not read")
			}
			want := map[string]any{"kafka_topic": "rides", "kafka_partition": 0, "kafka_offset": 0, "kafka_key": "own-key", "trace": "abc"}
			if got := metadataOf(throughKafkaMetadata(t, m)); !reflect.DeepEqual(got, want) {
				t.Errorf("metadata %v, want %v", got, want)
			}
		})
	}
}

// throughKafkaMetadata runs m through the kafka_metadata processor.
func throughKafkaMetadata(t *testing.T, m *service.Message) *service.Message {
	t.Helper()
	out, err := metadataProcessor{}.Process(context.Background(), m)
	if err != nil || len(out) != 1 {
		t.Fatalf("kafka_metadata: %v, %d messages", err, len(out))
	}
	return out[0]
}
