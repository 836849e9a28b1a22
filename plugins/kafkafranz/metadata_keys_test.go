package kafkafranz

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func metaKeysOf(m *service.Message) []string {
	var keys []string
	_ = m.MetaWalkMut(func(k string, _ any) error { keys = append(keys, k); return nil })
	slices.Sort(keys)
	return keys
}

// Without metadata_keys (or with an empty list) a message carries every key;
// with it, only the listed ones plus kafka_topic, kafka_partition and the
// headers, with the same values.
func TestMetadataKeysSetsOnlyTheListedKeys(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	err = cl.ProduceSync(context.Background(),
		&kgo.Record{Topic: "rides", Key: []byte("k0"), Value: []byte("a")},
		&kgo.Record{Topic: "rides", Key: []byte("k1"), Value: []byte("b"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}},
	).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"kafka_assignment_commit", "kafka_assignment_epoch", "kafka_assignment_offset", "kafka_group_generation", "kafka_key", "kafka_lag", "kafka_offset", "kafka_partition", "kafka_prev_offset", "kafka_timestamp_ms",
		"kafka_timestamp_unix", "kafka_tombstone_message", "kafka_topic", "kafka_topic_partitions"}
	for _, c := range []struct {
		name, extra string
		want        []string
	}{
		{"unset", "", all},
		{"listed", "  metadata_keys: [ kafka_key, kafka_offset, kafka_prev_offset, kafka_topic_partitions, kafka_topic ]\n",
			[]string{"kafka_key", "kafka_offset", "kafka_partition", "kafka_prev_offset", "kafka_topic", "kafka_topic_partitions"}},
		{"empty", "  metadata_keys: []\n", all},
	} {
		t.Run(c.name, func(t *testing.T) {
			col := newCollector()
			runInput(t, groupInput(addr, "g-"+c.name, c.extra), func(_ context.Context, b service.MessageBatch) error { col.add(b); return nil })
			col.waitDistinct(t, 2)
			col.mu.Lock()
			defer col.mu.Unlock()
			for _, m := range col.msgs {
				want := c.want
				off := metaInt(m, "kafka_offset")
				if off == 1 { // the record with a header
					want = slices.Sorted(slices.Values(append(slices.Clone(want), "trace")))
				}
				if got := metaKeysOf(m); !slices.Equal(got, want) {
					t.Errorf("offset %d: keys %v, want %v", off, got, want)
				}
				if v, _ := m.MetaGetMut("kafka_partition"); v != 0 {
					t.Errorf("kafka_partition = %#v", v)
				}
				if slices.Contains(c.want, "kafka_prev_offset") {
					if prev := metaInt(m, "kafka_prev_offset"); prev != off-1 && !(off == 0 && prev == -1) {
						t.Errorf("offset %d: kafka_prev_offset %d", off, prev)
					}
				}
			}
		})
	}
}

func TestMetadataKeysRefusesAnUnknownKey(t *testing.T) {
	_, err := metaKeysOmitted([]string{"kafka_offset", "kafka_time"})
	if err == nil || !strings.Contains(err.Error(), `metadata_keys: unknown key "kafka_time"`) {
		t.Fatalf("err = %v", err)
	}
	omit, err := metaKeysOmitted(nil)
	if err != nil || omit != 0 {
		t.Fatalf("unset: omit %b, %v", omit, err)
	}
	omit, err = metaKeysOmitted([]string{"kafka_topic", "kafka_lag"})
	if err != nil || omit != metaAllKeys&^metaKafkaLag {
		t.Fatalf("kafka_lag only: omit %b, %v", omit, err)
	}
}

// config/rides.yaml lists in metadata_keys every kafka_* key it reads: in
// its Bloblang and interpolations, in the templates it shares with
// config/bronze.yaml, and in the plugins it uses (tumbling_window's
// position and order keys, the dead-letter output's idempotency key).
func TestRidesYAMLListsEveryMetadataKeyItReads(t *testing.T) {
	raw, err := os.ReadFile("../../config/rides.yaml")
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{string(raw), defaultIdempotencyKey}
	templates, err := filepath.Glob("../../config/templates/*.yaml")
	if err != nil || len(templates) == 0 {
		t.Fatalf("templates: %v %v", templates, err)
	}
	for _, f := range templates {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
	}
	read := map[string]bool{"kafka_topic": true, "kafka_partition": true, "kafka_offset": true,
		"kafka_prev_offset": true, "kafka_topic_partitions": true} // tumbling_window
	re := regexp.MustCompile(`meta\(\s*"(kafka_[a-z_]+)"\s*\)|@(kafka_[a-z_]+)`)
	for _, text := range texts {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			read[m[1]+m[2]] = true
		}
	}
	omit := ridesYAMLOmit(t)
	if omit == 0 {
		t.Fatal("config/rides.yaml sets no metadata_keys: this test has nothing to check")
	}
	for k := range read {
		if k == "kafka_topic" || k == "kafka_partition" {
			continue
		}
		for _, n := range metaKeyNames {
			if n.name == k && omit.has(n.key) {
				t.Errorf("config/rides.yaml reads %s but metadata_keys leaves it out", k)
			}
		}
	}
}
