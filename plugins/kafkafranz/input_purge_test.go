package kafkafranz

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// With purge_committed, a stream's input deletes what its group committed:
// the log start of every partition reaches the committed offset, and
// kafka_input_purges_total counts it.
func TestPurgeCommittedMovesTheLogStartOfAStream(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "rides"))
	produce(t, addr, "rides", 0, 20) // round robin: 10 per partition
	exp := &recordingExporter{values: map[string]int64{}}
	env := service.NewEnvironment()
	if err := env.RegisterMetricsExporter("recording", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return exp, nil }); err != nil {
		t.Fatal(err)
	}
	sb := env.NewStreamBuilder()
	for _, err := range []error{
		sb.SetLoggerYAML("level: none"),
		sb.SetMetricsYAML("recording: {}"),
		sb.AddInputYAML(groupInput(addr, "g", "  purge_committed: { enabled: true, interval: 1s }\n")),
		sb.AddBatchConsumerFunc(func(context.Context, service.MessageBatch) error { return nil }),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Run(context.Background()) }()
	defer func() { _ = s.StopWithin(10 * time.Second) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(20 * time.Second)
	for {
		starts, err := adm.ListStartOffsets(context.Background(), "rides")
		if err != nil {
			t.Fatal(err)
		}
		s0, _ := starts.Lookup("rides", 0)
		s1, _ := starts.Lookup("rides", 1)
		// The broker moves the log start before it answers DeleteRecords and
		// the input counts the purge after the answer: wait for both.
		deleted := exp.sum("kafka_input_purges_total", "topic=rides", "outcome=deleted")
		if s0.Offset == 10 && s1.Offset == 10 && deleted >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log starts %d and %d, want 10 and 10 (everything committed); kafka_input_purges_total{outcome=deleted} = %d, want >= 1 (%v)",
				s0.Offset, s1.Offset, deleted, exp.keys("kafka_input_purges"))
		}
		time.Sleep(50 * time.Millisecond) // polling the broker's and the input's state
	}
	if got := exp.sum("kafka_input_purges_total", "outcome=error"); got != 0 {
		t.Errorf("kafka_input_purges_total{outcome=error} = %d, want 0", got)
	}
}

// Construction re-checks purge_committed's lint rules, naming the field.
func TestPurgeCommittedConstructionRefusesBadConfig(t *testing.T) {
	for body, want := range map[string]string{
		"topics: [ \"rides:0\" ]\npurge_committed: { enabled: true }":                              "purge_committed.enabled: requires a consumer_group",
		"topics: [ rides ]\nconsumer_group: g\npurge_committed: { enabled: true, interval: 10ms }": "purge_committed.interval: must be at least 1s",
	} {
		parsed, err := inputSpec().ParseYAML("seed_brokers: [ x ]\n"+body+"\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		cc, _ := consumerConfigFromParsed(parsed)
		if _, err := purgeFromParsed(parsed, cc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
	parsed, err := inputSpec().ParseYAML("seed_brokers: [ x ]\ntopics: [ rides ]\nconsumer_group: g\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := consumerConfigFromParsed(parsed)
	if p, err := purgeFromParsed(parsed, cc); err != nil || p != nil {
		t.Fatalf("default: purge %+v, err %v; want off", p, err)
	}
}
