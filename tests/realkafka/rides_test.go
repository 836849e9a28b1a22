package realkafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
)

var rideCities = []string{"paris", "lyon", "são paulo", "Marseille", "lille", "straße", "nantes"}

// rideKey and rideValue derive every record from its index, so consumers
// check each key/value pair without keeping what was sent.
func rideKey(i int) string { return fmt.Sprintf("ride-%06d", i) }

func rideValue(i int) string {
	return fmt.Sprintf(`{"ride_id":%q,"city":%q,"distance_km":%d.%d,"fare":%d.%02d,"event_time":"2026-11-26T10:%02d:%02dZ"}`,
		rideKey(i), rideCities[i%len(rideCities)], i%40, i%10, 5+i%70, i%100, (i/60)%60, i%60)
}

// rideIndex returns the index of a consumed record, or an error when its
// kafka_key or value is not exactly what record i was produced as.
func rideIndex(m *service.Message, n int) (int, error) {
	body, err := m.AsBytes()
	if err != nil {
		return 0, err
	}
	key, _ := m.MetaGet("kafka_key")
	i, err := strconv.Atoi(strings.TrimPrefix(key, "ride-"))
	if err != nil || i < 0 || i >= n || rideKey(i) != key {
		return 0, fmt.Errorf("unexpected kafka_key %q (value %q)", key, body)
	}
	if string(body) != rideValue(i) {
		return 0, fmt.Errorf("key %s: value %q, want %q", key, body, rideValue(i))
	}
	return i, nil
}

// produceRides sends records 0..n-1 with our kafka_franz output over SASL_SSL
// and returns once the output acknowledged every one.
func produceRides(t *testing.T, be brokerEnv, topic string, n int) {
	t.Helper()
	sb, rec, logs := observedBuilder(t)
	sb.SetEnvVarLookupFunc(envLookup(be.user, be.pass))
	produce, err := sb.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	err = sb.AddOutputYAML(fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %s ]
  topic: %s
  key: '${! json("ride_id") }'
  max_in_flight: 8
%s
`, be.saslSSL, topic, be.securityYAML("  ")))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- stream.Run(ctx) }()

	// Four producers send batches of 1000; each call returns once the output
	// acknowledged the batch (the broker accepted it).
	const batch, producers = 1000, 4
	next := make(chan int)
	errs := make(chan error, producers)
	var wg sync.WaitGroup
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				b := make(service.MessageBatch, 0, batch)
				for i := lo; i < lo+batch && i < n; i++ {
					b = append(b, service.NewMessage([]byte(rideValue(i))))
				}
				if err := produce(ctx, b); err != nil {
					errs <- fmt.Errorf("batch at %d: %w", lo, err)
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for lo := 0; lo < n; lo += batch {
			select {
			case next <- lo:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatalf("producing: %v\nlogs:\n%s", err, tail(logs.String(), 40))
	}
	if err := stream.Stop(ctx); err != nil {
		t.Fatalf("stopping producer stream: %v", err)
	}
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("producer stream: %v", err)
	}
	if got := rec.get("output_sent"); got < int64(n) {
		t.Errorf("output_sent = %d, want >= %d", got, n)
	}
	if strings.Contains(logs.String(), be.pass) {
		t.Errorf("the SASL password appears in the producer's logs")
	}
}

// endOffsets sums and returns the topic's high watermarks: what the broker
// holds, counted without our code.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) (kadm.ListedOffsets, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	return ends, total
}

// checkCommittedAtEnd wants the group's committed offsets at the end of
// every partition: everything was acked, so a restart re-reads nothing, and
// committing past the end would be a bug too.
func checkCommittedAtEnd(t *testing.T, adm *kadm.Client, topic, group string) {
	t.Helper()
	ends, _ := endOffsets(t, adm, topic)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(end kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, end.Partition)
		switch {
		case !ok || c.Err != nil:
			t.Errorf("partition %d: no committed offset for group %s after a graceful stop (%v)", end.Partition, group, c.Err)
		case c.At != end.Offset:
			t.Errorf("partition %d: committed offset %d, want the end offset %d", end.Partition, c.At, end.Offset)
		}
	})
}

// envLookup serves ${KAFKA_USER} and ${KAFKA_PASS} to the YAML, as the seed
// job reads its credentials from the environment.
func envLookup(user, pass string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		switch name {
		case "KAFKA_USER":
			return user, true
		case "KAFKA_PASS":
			return pass, true
		}
		return "", false
	}
}

// tail returns the last n lines of s, for failure messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
