package metaswitch

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// run passes one batch through a metadata_switch built from yaml and returns
// what comes out, as "<body>" strings.
func run(t *testing.T, yaml string, in service.MessageBatch) []string {
	t.Helper()
	b := service.NewStreamBuilder()
	produce, err := b.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddProcessorYAML(yaml); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		for _, m := range batch {
			body, _ := m.AsBytes()
			got = append(got, string(body))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- st.Run(context.Background()) }()
	if err := produce(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if err := st.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return got
}

func msg(body, topic string) *service.Message {
	m := service.NewMessage([]byte(body))
	if topic != "" {
		m.MetaSetMut("kafka_topic", topic)
	}
	return m
}

const twoCases = `
metadata_switch:
  key: kafka_topic
  cases:
    - value: rides
      processors:
        - mapping: 'root = "ride " + content().string() + " of " + batch_size().string()'
    - value: internal
      processors:
        - mapping: 'root = "internal " + content().string()'
    - value: rides
      processors:
        - mapping: 'root = "never: the first case naming a value wins"'
  default:
    - mapping: 'root = "other " + content().string()'
`

func TestMetadataSwitchRoutesByValueKeepingOrderPerRoute(t *testing.T) {
	got := run(t, twoCases, service.MessageBatch{
		msg("a", "rides"), msg("b", "internal"), msg("c", "rides"), msg("d", ""), msg("e", "dlq"), msg("f", "internal"),
	})
	want := "ride a of 2,ride c of 2,internal b,internal f,other d,other e"
	if strings.Join(got, ",") != want {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A batch of one route is processed as it is.
	got = run(t, twoCases, service.MessageBatch{msg("x", "rides"), msg("y", "rides"), msg("z", "rides")})
	if strings.Join(got, ",") != "ride x of 3,ride y of 3,ride z of 3" {
		t.Fatalf("one route: %v", got)
	}
}

func TestMetadataSwitchWithoutDefaultPassesOthersOn(t *testing.T) {
	got := run(t, `
metadata_switch:
  key: kafka_topic
  cases:
    - value: rides
      processors:
        - mapping: 'root = "ride " + content().string()'
`, service.MessageBatch{msg("a", "internal"), msg("b", "rides")})
	if strings.Join(got, ",") != "a,ride b" {
		t.Fatalf("got %v", got)
	}
}

func TestMetadataSwitchConfigIsChecked(t *testing.T) {
	for yaml, want := range map[string]string{
		"metadata_switch:\n  key: kafka_topic\n  cases: []\n":                             "at least one case",
		"metadata_switch:\n  key: \"\"\n  cases:\n    - value: a\n      processors: []\n": "key: must name",
		"metadata_switch:\n  cases:\n    - value: a\n      processors: []\n":              "key",
		"metadata_switch:\n  key: k\n  cases:\n    - processors: []\n":                    "value",
	} {
		b := service.NewStreamBuilder()
		err := b.AddProcessorYAML(yaml)
		if err == nil {
			_, err = b.Build()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error naming %q", yaml, err, want)
		}
	}
}

// Benthos shares one processor between its pipeline threads and each thread
// closes it, so Close runs concurrently and must leave the processor's state
// alone. Three cases leave spare capacity in the cases slice (the old Close
// appended the default into it: a data race between threads).
func TestMetadataSwitchCloseFromEveryThreadWritesNothing(t *testing.T) {
	body := strings.TrimPrefix(strings.TrimLeft(twoCases, "\n"), "metadata_switch:")
	conf, err := spec().ParseYAML(strings.ReplaceAll(body, "\n  ", "\n"), nil) // the fields, one level up
	if err != nil {
		t.Fatal(err)
	}
	s, err := fromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	spare := s.cases[len(s.cases):cap(s.cases)]
	if len(spare) == 0 {
		t.Fatalf("cases has no spare capacity (len %d): the test needs some to see a write", len(s.cases))
	}
	const threads = 4
	errs := make(chan error, threads)
	start := make(chan struct{})
	for range threads {
		go func() {
			<-start
			errs <- s.Close(context.Background())
		}()
	}
	close(start)
	for range threads {
		if err := <-errs; err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	for i, procs := range spare {
		if procs != nil {
			t.Errorf("Close wrote %d processors past the cases (slot %d of the spare capacity)", len(procs), i)
		}
	}
}
