package kafkafranz

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
)

// assignedSet is what a replica's kafka_input_partition_assigned series say
// it owns, as "partition=n" → value.
func assignedSet(e *recordingExporter, partitions int) (owned []int, sum int64) {
	for p := range partitions {
		v := e.sum("kafka_input_partition_assigned", "topic=rides", "partition="+strconv.Itoa(p)+"}")
		if v == 1 {
			owned = append(owned, p)
		}
		sum += v
	}
	return owned, sum
}

// Two replicas of one consumer group: each one's gauges show the partitions
// it owns, together every partition once; a replica that leaves shows none
// and the other takes them all.
func TestAssignmentGaugesShowWhatEachReplicaOwns(t *testing.T) {
	const partitions = 4
	_, addr := newCluster(t, kfake.SeedTopics(partitions, "rides"))
	produce(t, addr, "rides", 0, 40)
	env := service.NewEnvironment()
	exps := []*recordingExporter{{values: map[string]int64{}}, {values: map[string]int64{}}}
	for i, name := range []string{"rec_a", "rec_b"} {
		exp := exps[i]
		if err := env.RegisterMetricsExporter(name, service.NewConfigSpec(),
			func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return exp, nil }); err != nil {
			t.Fatal(err)
		}
	}
	start := func(name string) (stop func()) {
		sb := env.NewStreamBuilder()
		for _, err := range []error{
			sb.SetLoggerYAML("level: none"),
			sb.SetMetricsYAML(name + ": {}"),
			sb.AddInputYAML(groupInput(addr, "g", "")),
			sb.AddBatchConsumerFunc(func(context.Context, service.MessageBatch) error { return nil }),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		st, err := sb.Build()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- st.Run(context.Background()) }()
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := st.Stop(ctx); err != nil {
				t.Errorf("stopping %s: %v", name, err)
			}
			<-done
		}
		t.Cleanup(stop)
		return stop
	}
	// waitFor polls the replicas' gauges (the group rebalances in the
	// background) until ok, bounded by a deadline.
	waitFor := func(what string, ok func(a, b []int, sumA, sumB int64) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			a, sumA := assignedSet(exps[0], partitions)
			b, sumB := assignedSet(exps[1], partitions)
			if ok(a, b, sumA, sumB) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: A owns %v (sum %d), B owns %v (sum %d); series %v %v", what, a, sumA, b, sumB,
					exps[0].keys("kafka_input_partition_assigned"), exps[1].keys("kafka_input_partition_assigned"))
			}
			time.Sleep(20 * time.Millisecond) // poll the group's progress, bounded by the deadline
		}
	}

	start("rec_a")
	waitFor("A alone", func(a, b []int, sumA, sumB int64) bool { return len(a) == partitions && sumA == partitions })
	stopB := start("rec_b")
	waitFor("A and B", func(a, b []int, sumA, sumB int64) bool {
		if len(a) == 0 || len(b) == 0 || len(a)+len(b) != partitions || sumA+sumB != partitions {
			return false
		}
		for _, p := range a {
			for _, q := range b {
				if p == q {
					return false
				}
			}
		}
		return true
	})
	stopB()
	waitFor("B gone", func(a, b []int, sumA, sumB int64) bool { return len(a) == partitions && len(b) == 0 && sumB == 0 })
}

// A partition that leaves drops to lag 0 on this replica (its new owner
// reports the real lag), so sums over replicas do not count it twice.
func TestLagOfALostPartitionIsZero(t *testing.T) {
	exp := &recordingExporter{values: map[string]int64{}}
	m := newInputMetrics(metricsOf(t, exp))
	m.Assignment("rides", 3, true)
	m.Lag("rides", 3, 500)
	m.Lag("rides", 2, 7) // another partition, not touched
	if got := exp.sum("kafka_input_lag", "partition=3}"); got != 500 {
		t.Fatalf("lag = %d, want 500", got)
	}
	if got := exp.sum("kafka_input_partition_assigned", "partition=3}"); got != 1 {
		t.Fatalf("assigned = %d, want 1", got)
	}
	m.Assignment("rides", 3, false)
	if got := exp.sum("kafka_input_lag", "partition=3}"); got != 0 {
		t.Errorf("lag of the lost partition = %d, want 0", got)
	}
	if got := exp.sum("kafka_input_partition_assigned", "partition=3}"); got != 0 {
		t.Errorf("assigned of the lost partition = %d, want 0", got)
	}
	if got := exp.sum("kafka_input_lag", "partition=2}"); got != 7 {
		t.Errorf("lag of partition 2 = %d, want 7", got)
	}
}

// metricsOf returns the *service.Metrics a component of a stream reporting
// to exp gets (a processor plugin hands it over when the stream starts).
func metricsOf(t *testing.T, exp *recordingExporter) *service.Metrics {
	t.Helper()
	env := service.NewEnvironment()
	got := make(chan *service.Metrics, 1)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(env.RegisterMetricsExporter("rec", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return exp, nil }))
	must(env.RegisterProcessor("grab_metrics", service.NewConfigSpec(),
		func(_ *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			select {
			case got <- mgr.Metrics():
			default:
			}
			return passThrough{}, nil
		}))
	sb := env.NewStreamBuilder()
	must(sb.SetLoggerYAML("level: none"))
	must(sb.SetMetricsYAML("rec: {}"))
	must(sb.AddProcessorYAML("grab_metrics: {}"))
	must(sb.AddConsumerFunc(func(context.Context, *service.Message) error { return nil }))
	_, err := sb.AddProducerFunc()
	must(err)
	st, err := sb.Build()
	must(err)
	go func() { _ = st.Run(context.Background()) }()
	t.Cleanup(func() { _ = st.StopWithin(10 * time.Second) })
	select {
	case m := <-got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("the stream never built its processor")
		return nil
	}
}

type passThrough struct{}

func (passThrough) Process(_ context.Context, m *service.Message) (service.MessageBatch, error) {
	return service.MessageBatch{m}, nil
}
func (passThrough) Close(context.Context) error { return nil }
