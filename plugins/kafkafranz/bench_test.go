package kafkafranz

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/miaradia/rides-connect/internal/box"
	"github.com/miaradia/rides-connect/internal/kafkarecord"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// Both benchmarks drain the same prefilled in-process topic (6 partitions,
// benchRecords JSON rides of ~150 bytes) with a fresh consumer group per
// iteration; the time covers client start, group join, the drain and close.
const benchRecords = 100_000

func prefilled(b *testing.B) string {
	b.Helper()
	_, addr := newCluster(b, kfake.SeedTopics(6, "rides"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	recs := make([]*kgo.Record, 0, 5000)
	for i := range benchRecords {
		recs = append(recs, &kgo.Record{Topic: "rides", Key: fmt.Appendf(nil, "r-%07d", i),
			Value: fmt.Appendf(nil, `{"rideId":"r-%07d","userId":"u-%05d","city":"paris","distanceKm":12.5,"price":23.75,"ts":"2026-11-26T10:00:%02d.000Z"}`, i, i%10000, i%60)})
		if len(recs) == cap(recs) {
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	return addr
}

// BenchmarkDrainKafkaFranzInput: our kafka_franz input in a Benthos stream
// to a drop consumer (ack-gated commits every 5s, checkpoint_limit 1024).
func BenchmarkDrainKafkaFranzInput(b *testing.B) {
	addr := prefilled(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		drainInput(b, addr, fmt.Sprintf("bench-ours-%d", i), "")
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBatchScope: the same drain in each batch_scope, unbatched
// and with the batching of config/rides.yaml, to price poll scope (rounds,
// interleaving, mixed-partition acks) against partition scope.
func BenchmarkBatchScope(b *testing.B) {
	addr := prefilled(b)
	for _, batching := range []string{"", "  batching: { count: 2048, period: 1s }\n"} {
		for _, scope := range []string{scopePartition, scopePoll} {
			name := scope + "/unbatched"
			if batching != "" {
				name = scope + "/count2048"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					// A fresh group each time: the testing package re-runs this
					// function (N=1, then N) on the same topic.
					drainInput(b, addr, fmt.Sprintf("bench-%s-%d", strings.ReplaceAll(name, "/", "-"), benchGroups.Add(1)), scoped(scope)+batching)
				}
				b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

var benchGroups atomic.Int64

// drainInput runs one stream from a fresh group until it delivered every
// record of the prefilled topic, then stops it.
func drainInput(b *testing.B, addr, group, extra string) {
	var n atomic.Int64
	done := make(chan struct{})
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: none"); err != nil {
		b.Fatal(err)
	}
	if err := sb.AddInputYAML(fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topics: [ rides ]
  consumer_group: %s
%s`, addr, group, extra)); err != nil {
		b.Fatal(err)
	}
	if err := sb.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		if n.Add(int64(len(batch))) == benchRecords {
			close(done)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = stream.Run(context.Background()) }()
	<-done
	if err := stream.StopWithin(30 * time.Second); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDrainBareFranz: a bare franz-go group consumer polling and
// discarding, the ceiling for our input.
func BenchmarkDrainBareFranz(b *testing.B) {
	addr := prefilled(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("rides"),
			kgo.ConsumerGroup(fmt.Sprintf("bench-bare-%d", i)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < benchRecords {
			fs := cl.PollFetches(context.Background())
			if err := fs.Err0(); err != nil {
				b.Fatal(err)
			}
			n += fs.NumRecords()
		}
		cl.Close() // commits on leave, like our input's graceful stop
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDrainCoreConsumer: our Benthos-free core (franz.Consumer: offset
// tracking, pause checks, commit marks) polling and acking every chunk, to
// separate its cost from the Benthos pipeline's.
func BenchmarkDrainCoreConsumer(b *testing.B) {
	addr := prefilled(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := franz.NewConsumer(franz.ConsumerConfig{
			Client:          franz.ClientConfig{SeedBrokers: []string{addr}},
			Topics:          franz.TopicSpec{Topics: []string{"rides"}},
			Group:           fmt.Sprintf("bench-core-%d", i),
			CheckpointLimit: 1024,
			CommitPeriod:    5 * time.Second,
		}, nopLogger{}, nil)
		ctx := context.Background()
		if err := c.Connect(ctx); err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < benchRecords {
			chunks, err := c.Poll(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for _, ch := range chunks {
				n += len(ch.Records)
				ch.Ack()
			}
		}
		c.Close()
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

type nopLogger struct{}

func (nopLogger) Debugf(string, ...any) {}
func (nopLogger) Infof(string, ...any)  {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Errorf(string, ...any) {}

// BenchmarkRecordToMessage: building one message with V0 metadata, as the
// input does per record, without and with kafka_lag (consumer group mode)
// and with multi_header, to price those options against each other.
// rides_group is a consumer group reading records without headers (10
// metadata keys), rides_yaml the same with config/rides.yaml's metadata_keys
// (6 keys). One op = one record of a 2048-record chunk (the chunk's setup
// included, as the reader pays it).
func BenchmarkRecordToMessage(b *testing.B) {
	rec := &kgo.Record{Topic: "rides", Partition: 3, Offset: 1234, Timestamp: time.UnixMilli(1764151200000),
		Key: []byte("r-0001234"), Value: []byte(`{"rideId":"r-0001234","city":"paris","distanceKm":12.5,"price":23.75}`),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}}
	plain := *rec
	plain.Headers = nil
	for _, c := range []struct {
		name string
		rec  *kgo.Record
		opts metaOptions
	}{
		{"v0", rec, metaOptions{}},
		{"kafka_lag", rec, metaOptions{lag: true}},
		{"multi_header", rec, metaOptions{lag: true, multiHeader: true}},
		{"rides_group", &plain, metaOptions{lag: true}},
		{"rides_yaml", &plain, metaOptions{lag: true, omit: ridesYAMLOmit(b)}},
		// As the reader runs it: per-record values boxed from shared arrays.
		{"rides_yaml_boxed", &plain, metaOptions{lag: true, omit: ridesYAMLOmit(b), box: new(box.Slab)}},
		// set_metadata: false: the record in the context, no metadata map.
		{"no_metadata", &plain, metaOptions{lag: true, omit: ridesYAMLOmit(b), none: true, box: new(box.Slab)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			chunk := make([]*kgo.Record, 2048)
			for i := range chunk {
				chunk[i] = c.rec
			}
			ch := franz.Chunk{Topic: c.rec.Topic, Partition: c.rec.Partition, HighWatermark: 5000,
				TopicPartitions: 6, Prev: 1233, Records: chunk}
			b.ReportAllocs()
			var pm partitionMeta
			for i := 0; i < b.N; i++ {
				j := i % len(chunk)
				if j == 0 {
					pm = newPartitionMeta(ch, c.opts)
					pm.carriers = kafkarecord.Carriers(&pm, len(chunk))
				}
				_ = recordToMessage(&pm, j)
			}
		})
	}
}

// ridesYAMLOmit reads config/rides.yaml's kafka_franz metadata_keys.
func ridesYAMLOmit(b testing.TB) metaKey {
	raw, err := os.ReadFile("../../config/rides.yaml")
	if err != nil {
		b.Fatal(err)
	}
	// The source input: the config's input, or its broker's input labelled rides_in.
	type franzInput struct {
		Label      string `yaml:"label"`
		KafkaFranz struct {
			MetadataKeys []string `yaml:"metadata_keys"`
		} `yaml:"kafka_franz"`
	}
	var conf struct {
		Input struct {
			franzInput `yaml:",inline"`
			Broker     struct {
				Inputs []franzInput `yaml:"inputs"`
			} `yaml:"broker"`
		} `yaml:"input"`
	}
	if err := yaml.Unmarshal(raw, &conf); err != nil {
		b.Fatal(err)
	}
	source := conf.Input.franzInput
	for _, in := range conf.Input.Broker.Inputs {
		if in.Label == "rides_in" {
			source = in
		}
	}
	omit, err := metaKeysOmitted(source.KafkaFranz.MetadataKeys)
	if err != nil {
		b.Fatal(err)
	}
	return omit
}

// BenchmarkNackReplay: the non-transactional input's hand-out path with
// auto_replay_nacks: true, draining the prefilled topic with
// config/rides.yaml's batching (poll scope; count 2000, not 2048 and no
// period, so that the last batch fills and no timer is measured) and every
// batch acked: Benthos' AutoRetryNacksBatched (tags and copies every message)
// against replayReader (hands the batch out as built). Run both in one
// process, alternating: go test -bench NackReplay -count 6.
func BenchmarkNackReplay(b *testing.B) {
	addr := prefilled(b)
	for _, wrapper := range []string{"benthos", "own"} {
		b.Run(wrapper, func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				drainWrapped(b, addr, fmt.Sprintf("bench-replay-%d", benchGroups.Add(1)), wrapper)
			}
			// CPU, not wall time: Benthos' wrapper reads ahead in a goroutine
			// of its own, which a loop that does nothing with the batches
			// turns into wall time the pipeline would not see. The kfake
			// broker's CPU (the same for both) is included.
			b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(benchRecords*b.N), "cpu-ns/record")
		})
	}
}

// drainWrapped reads every record of the prefilled topic from a fresh group
// through the reader wrapped as named, acking each batch at once.
func drainWrapped(b *testing.B, addr, group, wrapper string) {
	conf, err := inputSpec().ParseYAML(fmt.Sprintf(`
seed_brokers: [ %q ]
topics: [ rides ]
consumer_group: %s
batch_scope: poll
checkpoint_limit: 8192
batching: { count: 2000 }
metadata_keys: [ kafka_topic, kafka_partition, kafka_offset, kafka_prev_offset, kafka_topic_partitions, kafka_key ]
`, addr, group), nil)
	if err != nil {
		b.Fatal(err)
	}
	cc, err := consumerConfigFromParsed(conf)
	if err != nil {
		b.Fatal(err)
	}
	policy, err := conf.FieldBatchPolicy(fieldBatching)
	if err != nil {
		b.Fatal(err)
	}
	omit, err := metaKeysOmitted([]string{"kafka_topic", "kafka_partition", "kafka_offset", "kafka_prev_offset", "kafka_topic_partitions", "kafka_key"})
	if err != nil {
		b.Fatal(err)
	}
	r, err := newReader(cc, policy, false, metaOptions{lag: true, omit: omit}, scopePoll, service.MockResources())
	if err != nil {
		b.Fatal(err)
	}
	var in service.BatchInput = newReplayReader(r)
	if wrapper == "benthos" {
		in = service.AutoRetryNacksBatched(r)
	}
	ctx := context.Background()
	if err := in.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	for n := 0; n < benchRecords; {
		batch, ack, err := in.ReadBatch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n += len(batch)
		_ = ack(ctx, nil)
	}
	_ = in.Close(ctx)
}

// processCPU is the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
