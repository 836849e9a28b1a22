package realkafka

import (
	"context"
	"sync"
	"testing"
	"time"
)

const roundTripRecords = 100_000

// TestRoundTripSASLSSL produces 100 000 records with our kafka_franz output and
// consumes them with our kafka_franz input, both over SASL_SSL SCRAM-SHA-512
// with the JKS truststore, and checks every key/value arrived.
func TestRoundTripSASLSSL(t *testing.T) {
	be := needBroker(t)
	adm := be.adminClient(t)
	topic := uniqueName("rides-roundtrip")
	createTopic(t, adm, topic, 6)

	start := time.Now()
	produceRides(t, be, topic, roundTripRecords)
	produceDur := time.Since(start)
	_, inLog := endOffsets(t, adm, topic)
	if inLog < roundTripRecords {
		t.Fatalf("broker holds %d records after %d acked produces", inLog, roundTripRecords)
	}
	t.Logf("produced %d records in %v (%.0f rec/s); broker log holds %d (%d duplicated by producer retries)",
		roundTripRecords, produceDur.Round(time.Millisecond), roundTripRecords/produceDur.Seconds(), inLog, inLog-roundTripRecords)

	group := uniqueName("realkafka-roundtrip")
	got := newTally(roundTripRecords)
	all := make(chan struct{})
	var once sync.Once
	start = time.Now()
	c := startConsumer(t, be, topic, group, roundTripRecords, func(_ context.Context, i int) error {
		if got.add(i) && got.seenCount() == roundTripRecords {
			once.Do(func() { close(all) })
		}
		return nil
	})
	c.wait(all, 5*time.Minute, "all records")
	consumeDur := time.Since(start)
	c.stop(time.Minute)

	if n, first := got.missing(func(int) bool { return true }, 10); n > 0 {
		t.Fatalf("lost %d records; first missing: %v", n, first)
	}
	t.Logf("consumed %d distinct records in %v (%.0f rec/s); %d duplicates delivered",
		roundTripRecords, consumeDur.Round(time.Millisecond), roundTripRecords/consumeDur.Seconds(), got.dupCount())
	checkCommittedAtEnd(t, adm, topic, group)
}
