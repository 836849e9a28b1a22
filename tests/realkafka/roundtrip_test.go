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

const roundTripRecords = 100_000

var rideCities = []string{"paris", "lyon", "são paulo", "Marseille", "lille", "straße", "nantes"}

// rideKey and rideValue derive every record from its index, so the consumer
// can check each key/value pair without keeping what was sent.
func rideKey(i int) string { return fmt.Sprintf("ride-%06d", i) }

func rideValue(i int) string {
	return fmt.Sprintf(`{"ride_id":%q,"city":%q,"distance_km":%d.%d,"fare":%d.%02d,"event_time":"2026-11-26T10:%02d:%02dZ"}`,
		rideKey(i), rideCities[i%len(rideCities)], i%40, i%10, 5+i%70, i%100, (i/60)%60, i%60)
}

// TestRoundTripSASLSSL produces 100 000 records with our kafka_franz output and
// consumes them with our kafka_franz input, both over SASL_SSL SCRAM-SHA-512
// with the JKS truststore, and checks every key/value arrived.
func TestRoundTripSASLSSL(t *testing.T) {
	be := needBroker(t)
	needKafkaFranz(t, "input", "output")
	adm := be.adminClient(t)
	topic := uniqueName("rides-roundtrip")
	createTopic(t, adm, topic, 6)

	start := time.Now()
	produceRides(t, be, topic)
	produceDur := time.Since(start)

	// Independent count of what the broker holds: the high watermarks.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var inLog int64
	ends.Each(func(o kadm.ListedOffset) { inLog += o.Offset })
	if inLog < roundTripRecords {
		t.Fatalf("broker holds %d records after %d acked produces", inLog, roundTripRecords)
	}
	t.Logf("produced %d records in %v (%.0f rec/s); broker log holds %d (%d duplicated by producer retries)",
		roundTripRecords, produceDur.Round(time.Millisecond), roundTripRecords/produceDur.Seconds(), inLog, inLog-roundTripRecords)

	group := uniqueName("realkafka-roundtrip")
	start = time.Now()
	seen, dups := consumeRides(t, be, topic, group)
	consumeDur := time.Since(start)
	t.Logf("consumed %d distinct records in %v (%.0f rec/s); %d duplicates delivered",
		seen, consumeDur.Round(time.Millisecond), float64(seen)/consumeDur.Seconds(), dups)

	// Every record was acked before the graceful stop, so the group's
	// committed offsets must have reached the end of each partition: a
	// restart re-reads nothing. Committing past the end would be a bug too.
	fctx, fcancel := context.WithTimeout(context.Background(), time.Minute)
	defer fcancel()
	committed, err := adm.FetchOffsets(fctx, group)
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

func produceRides(t *testing.T, be brokerEnv, topic string) {
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
				for i := lo; i < lo+batch && i < roundTripRecords; i++ {
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
		for lo := 0; lo < roundTripRecords; lo += batch {
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
	if got := rec.get("output_sent"); got < roundTripRecords {
		t.Errorf("output_sent = %d, want >= %d", got, roundTripRecords)
	}
	if strings.Contains(logs.String(), be.pass) {
		t.Errorf("the SASL password appears in the producer's logs")
	}
}

// consumeRides reads the topic from the start with a fresh consumer group
// until every record was seen, checking each key/value pair; it returns the
// distinct records seen and the number of duplicate deliveries.
func consumeRides(t *testing.T, be brokerEnv, topic, group string) (seen int, dups int) {
	t.Helper()
	sb, _, logs := observedBuilder(t)
	sb.SetEnvVarLookupFunc(envLookup(be.user, be.pass))
	err := sb.AddInputYAML(fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %s ]
  topics: [ %s ]
  consumer_group: %s
  start_offset: earliest
%s
`, be.saslSSL, topic, group, be.securityYAML("  ")))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		got      = make([]bool, roundTripRecords)
		problems []string
		done     = make(chan struct{})
	)
	err = sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		body, err := m.AsBytes()
		if err != nil {
			return err
		}
		key, _ := m.MetaGet("kafka_key")
		mu.Lock()
		defer mu.Unlock()
		i, perr := strconv.Atoi(strings.TrimPrefix(key, "ride-"))
		switch {
		case perr != nil || i < 0 || i >= roundTripRecords || rideKey(i) != key:
			problems = append(problems, fmt.Sprintf("unexpected kafka_key %q (value %q)", key, body))
		case string(body) != rideValue(i):
			problems = append(problems, fmt.Sprintf("key %s: value %q, want %q", key, body, rideValue(i)))
		case got[i]:
			dups++
		default:
			got[i] = true
			seen++
			if seen == roundTripRecords {
				close(done)
			}
		}
		return nil
	})
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

	select {
	case <-done:
	case err := <-runErr:
		t.Fatalf("consumer stream ended early: %v\nlogs:\n%s", err, tail(logs.String(), 40))
	case <-ctx.Done():
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Minute)
	defer stopCancel()
	if err := stream.Stop(stopCtx); err != nil {
		t.Errorf("stopping consumer stream: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems[:min(len(problems), 10)] {
		t.Error(p)
	}
	if len(problems) > 0 {
		t.Errorf("%d records with a wrong key or value", len(problems))
	}
	if seen < roundTripRecords {
		var missing []string
		for i, ok := range got {
			if !ok && len(missing) < 10 {
				missing = append(missing, rideKey(i))
			}
		}
		t.Fatalf("lost records: saw %d of %d distinct keys before the deadline; first missing: %v\nlogs:\n%s",
			seen, roundTripRecords, missing, tail(logs.String(), 40))
	}
	return seen, dups
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
