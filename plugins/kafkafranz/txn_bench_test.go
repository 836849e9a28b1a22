package kafkafranz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// BenchmarkCopyTopic: a Benthos stream copying the prefilled `rides` topic
// (benchRecords records, 6 partitions, kfake) to another topic, at least
// once (the output's own idempotent producer) and in the input's
// transactions with two commit periods, to price the transactions. Each
// iteration runs every variant once, in a rotating order, so that the
// variants alternate on the shared machine; each reports its records/s.
func BenchmarkCopyTopic(b *testing.B) {
	addr := prefilled(b)
	variants := []struct{ name, input, output string }{
		{"at_least_once", "", ""},
		{"txn_1s", "    transaction: { enabled: true, id: %s, commit_period: 1s }\n", "    transaction: { input: src }\n"},
		{"txn_100ms", "    transaction: { enabled: true, id: %s, commit_period: 100ms }\n", "    transaction: { input: src }\n"},
	}
	spent := make([]time.Duration, len(variants))
	run := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range variants {
			k := (i + j) % len(variants)
			v := variants[k]
			run++
			group := fmt.Sprintf("copy-bench-%d", run)
			input := v.input
			if input != "" {
				input = fmt.Sprintf(input, group)
			}
			t0 := time.Now()
			copyOnce(b, addr, group, group, input, v.output)
			spent[k] += time.Since(t0)
		}
	}
	for k, v := range variants {
		b.ReportMetric(float64(benchRecords*b.N)/spent[k].Seconds(), "records/s_"+v.name)
	}
}

// copyOnce runs the copy until the group committed every record.
func copyOnce(b *testing.B, addr, group, dst, inputExtra, outputExtra string) {
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: none"); err != nil {
		b.Fatal(err)
	}
	if err := sb.SetYAML(fmt.Sprintf(`
input:
  label: src
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topics: [ rides ]
    consumer_group: %[2]s
    commit_period: 100ms
    batch_scope: poll
    checkpoint_limit: 8192
    batching: { count: 2048, period: 100ms }
%[4]soutput:
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topic: %[3]s
    key: ${! @kafka_key }
    create_topic: { enabled: true, partitions: 6 }
%[5]s`, addr, group, dst, inputExtra, outputExtra)); err != nil {
		b.Fatal(err)
	}
	s, err := sb.Build()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	deadline := time.Now().Add(2 * time.Minute)
	for groupProgress(b, addr, group, "rides") < benchRecords {
		if time.Now().After(deadline) {
			b.Fatalf("copy %s: not done after 2 minutes", group)
		}
		time.Sleep(5 * time.Millisecond) // polling the group's commits
	}
	if err := s.StopWithin(20 * time.Second); err != nil {
		b.Fatal(err)
	}
	<-done
}
