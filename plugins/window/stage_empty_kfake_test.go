package window

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/miaradia/rides-connect/plugins/kafkafranz"
	_ "github.com/miaradia/rides-connect/plugins/metaswitch"
)

// The scale-out job's two stages on kfake, wired as config/rides-scaleout.yaml
// (transactional stage 1 with empty-partition notices, which its parse step
// fails, markers and partials to the internal topic in its
// transactions, stage 2 read_committed), with an idle_timeout of an hour,
// which no test waits for: a source partition that never receives a record
// must not hold the windows. (With idle_timeout 0s no notice is announced:
// engine TestStageOneAnnouncesNoEmptyPartitionWithoutIdleTimeout.)

// emptyRows collects what reaches the test's sink, per stream label.
var emptyRows = struct {
	sync.Mutex
	rows   map[string][]string
	errors map[string][]string
}{rows: map[string][]string{}, errors: map[string][]string{}}

func init() {
	service.MustRegisterBatchOutput("window_empty_test_sink", service.NewConfigSpec().Summary("test only").Field(service.NewStringField("label")),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			label, err := conf.FieldString("label")
			return sink{label}, service.BatchPolicy{}, 1, err
		})
}

type sink struct{ label string }

func (sink) Connect(context.Context) error { return nil }
func (sink) Close(context.Context) error   { return nil }
func (s sink) WriteBatch(_ context.Context, b service.MessageBatch) error {
	emptyRows.Lock()
	defer emptyRows.Unlock()
	for _, m := range b {
		body, _ := m.AsBytes()
		if err := m.GetError(); err != nil {
			emptyRows.errors[s.label] = append(emptyRows.errors[s.label], err.Error())
			continue
		}
		if k, _ := m.MetaGet(kindMeta); k == "" {
			emptyRows.rows[s.label] = append(emptyRows.rows[s.label], string(body))
		}
	}
	return nil
}

func sinkRows(label string) (rows, errs []string) {
	emptyRows.Lock()
	defer emptyRows.Unlock()
	return append([]string(nil), emptyRows.rows[label]...), append([]string(nil), emptyRows.errors[label]...)
}

// replicaYAML is one replica: stage 1 on source (group group) with
// notices as asked, and stage 2 on internal unless merge is false. Rows and
// errors go to the test sink under label.
func replicaYAML(addr, label, source, group, internal string, notices, merge bool) string {
	inputs := fmt.Sprintf(`
      - label: %[2]s_in
        kafka_franz:
          seed_brokers: [ %[1]q ]
          topics: [ %[3]s ]
          consumer_group: %[4]s
          instance_id: %[2]s
          start_offset: earliest
          session_timeout: 6s
          heartbeat_interval: 500ms
          fetch_max_wait: 100ms
          empty_partition_notices: %[5]v
          metadata_keys: [ kafka_topic, kafka_partition, kafka_offset, kafka_prev_offset, kafka_topic_partitions, kafka_key, kafka_assignment_epoch, kafka_assignment_offset ]
          transaction: { enabled: true, id: %[2]s-txn, commit_period: 200ms, timeout: 10s }
          batching: { count: 50, period: 50ms }`, addr, label, source, group, notices)
	if merge {
		inputs += fmt.Sprintf(`
      - kafka_franz:
          seed_brokers: [ %[1]q ]
          topics: [ %[2]s ]
          consumer_group: %[2]s-merge
          start_offset: earliest
          transaction_isolation_level: read_committed
          fetch_max_wait: 100ms
          metadata_keys: [ kafka_topic, kafka_partition, kafka_offset, kafka_prev_offset, kafka_topic_partitions, kafka_assignment_epoch, kafka_assignment_offset ]
          batching: { count: 50, period: 50ms }`, addr, internal)
	}
	window := func(stage, cache string) string {
		return `tumbling_window:
                  stage: ` + stage + `
                  timestamp: this.ts
                  size: 5m
                  watermark: { delay: 10m, mode: per_partition, idle_timeout: 1h }
                  group_by: { city: this.city }
                  aggregates: { cnt: { op: count }, revenue: { op: sum, value: this.price } }
                  state: { cache: ` + cache + `, key: agg }`
	}
	return fmt.Sprintf(`
logger: { level: WARN }
input:
  broker:
    inputs:%[1]s
pipeline:
  threads: 2
  processors:
    - metadata_switch:
        key: kafka_topic
        cases:
          - value: %[2]s
            processors:
              # As config/rides-scaleout.yaml's parse_ride, this fails a notice (no body).
              - mapping: root = this
              - %[3]s
        default:
          - %[4]s
output:
  switch:
    cases:
      - check: '["partial", "marker"].contains(@window_kind.or("")) && @window_changelog_key.or("") == ""'
        output:
          kafka_franz:
            seed_brokers: [ %[5]q ]
            topic: %[6]s
            key: ${! @window_group_key.or("") }
            partitioner: manual
            partition: '${! @window_marker_partition.or("") }'
            metadata: { include_patterns: [ "^window_kind$" ] }
            transaction: { input: %[7]s_in }
      - check: '@window_changelog_key.or("") != ""'
        output: { drop: {} }
      - output:
          window_empty_test_sink: { label: %[7]s }
cache_resources:
  - label: stage1_state
    memory: {}
  - label: merge_state
    memory: {}
`, inputs, source, window("partial", "stage1_state"), window("merge", "merge_state"), addr, internal, label)
}

// startReplica runs a replica until the test ends; its sink label starts
// empty (-count > 1 reuses labels).
func startReplica(t *testing.T, label, yaml string) {
	t.Helper()
	emptyRows.Lock()
	delete(emptyRows.rows, label)
	delete(emptyRows.errors, label)
	emptyRows.Unlock()
	b := service.NewStreamBuilder()
	if err := b.SetYAML(yaml); err != nil {
		t.Fatal(err)
	}
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		// A stop before Run has started fails and leaves it running: try
		// again until Run returns.
		for s.StopWithin(20*time.Second) != nil {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		<-done
	})
}

// produceRides writes n rides, 3 minutes of event time apart from 08:00,
// all to one partition of topic.
func produceRides(t *testing.T, addr, topic string, partition int32, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	t0 := time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range n {
		v, _ := json.Marshal(map[string]any{"city": "PARIS", "price": 1.5, "ts": t0.Add(time.Duration(i) * 3 * time.Minute).Format(time.RFC3339)})
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Key: []byte(fmt.Sprint(i)), Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// waitRows waits (a hang guard, not a timing) for want rows at label.
func waitRows(t *testing.T, label string, want int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rows, errs := sinkRows(label)
		if len(errs) > 0 {
			t.Fatalf("errored messages reached the sink: %v", errs)
		}
		if len(rows) >= want {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d window rows after %v, want %d (a partition that never received a record held the windows?)", len(rows), within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// 20 rides from 08:00 to 08:57 close the windows up to 08:45 (watermark
// 08:57 - 10 min): 09 of them, 08:00 to 08:40.
const wantClosed = 9

func checkClosed(t *testing.T, rows []string) {
	t.Helper()
	var starts []string
	for _, r := range rows {
		var row struct {
			Start string `json:"window_start"`
			Cnt   int64  `json:"cnt"`
		}
		if err := json.Unmarshal([]byte(r), &row); err != nil {
			t.Fatal(err)
		}
		starts = append(starts, row.Start)
	}
	if len(rows) != wantClosed || !strings.HasPrefix(starts[0], "2026-03-14T08:00") || !strings.HasPrefix(starts[len(starts)-1], "2026-03-14T08:40") {
		t.Fatalf("rows %v, want the %d windows 08:00 to 08:40", rows, wantClosed)
	}
}

// One replica, P = 3, every record in partition 0: the windows close
// (partitions 1 and 2 are announced empty by their owner), without
// waiting for idle_timeout.
func TestScaleOutRecordsInOnePartitionCloseWindows(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "rides", "one-repartition"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the replicas stop (cleanups run last first)
	addr := c.ListenAddrs()[0]
	produceRides(t, addr, "rides", 0, 20)
	startReplica(t, "one", replicaYAML(addr, "one", "rides", "one", "one-repartition", true, true))
	checkClosed(t, waitRows(t, "one", wantClosed, 30*time.Second))
}

// A replica that owns only partitions that never receive a record still
// announces them. Replica b joins group g alone and owns both (empty)
// partitions; replica a (stage 1 and stage 2) joins and takes one over; only
// then do records arrive, all in a's partition. a never owned b's partition,
// so only b's notices (b never gets a record, before or after the
// rebalance) in b's own transactions let a's windows close.
func TestScaleOutReplicaOwningOnlyEmptyPartitionsAnnouncesThem(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "rides2", "g-repartition"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the replicas stop (cleanups run last first)
	addr := c.ListenAddrs()[0]
	startReplica(t, "b", replicaYAML(addr, "b", "rides2", "g", "g-repartition", true, false))
	waitAssigned(t, addr, "g", map[string]int{"b": 2})
	startReplica(t, "a", replicaYAML(addr, "a", "rides2", "g", "g-repartition", true, true))
	owned := waitAssigned(t, addr, "g", map[string]int{"a": 1, "b": 1})
	produceRides(t, addr, "rides2", owned["a"][0], 20)
	checkClosed(t, waitRows(t, "a", wantClosed, 30*time.Second))
	// b's transactions carried its announcements and moved no offset.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("rides2", owned["b"][0]); ok && o.At >= 0 {
		t.Fatalf("group g committed offset %d for b's empty partition", o.At)
	}
}

// waitAssigned waits (a hang guard) until group's members, by instance id,
// own want partitions each, and returns what each owns.
func waitAssigned(t *testing.T, addr, group string, want map[string]int) map[string][]int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		owned := map[string][]int32{}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		described, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			for _, m := range described[group].Members {
				ca, ok := m.Assigned.AsConsumer()
				if !ok || m.InstanceID == nil {
					continue
				}
				for _, tp := range ca.Topics {
					owned[*m.InstanceID] = append(owned[*m.InstanceID], tp.Partitions...)
				}
			}
		}
		ok := len(owned) == len(want) && described[group].State == "Stable"
		for id, n := range want {
			ok = ok && len(owned[id]) == n
		}
		if ok {
			return owned
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: assignment %v, want %v partitions per member", group, owned, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
