package kafkafranz

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// holdGate holds the second batch of a stream (test_hold_second) until
// released: the transaction holding the first batch's records stays open
// while it waits.
type holdGate struct {
	mu      sync.Mutex
	batches int
	release chan struct{}
}

// txnHold is the gate of the stream being built (one test at a time).
var txnHold *holdGate

func init() {
	err := service.RegisterBatchProcessor("test_hold_second", service.NewConfigSpec().Field(service.NewObjectField("")),
		func(*service.ParsedConfig, *service.Resources) (service.BatchProcessor, error) { return txnHold, nil })
	if err != nil {
		panic(err)
	}
}

func (g *holdGate) ProcessBatch(ctx context.Context, b service.MessageBatch) ([]service.MessageBatch, error) {
	g.mu.Lock()
	g.batches++
	n := g.batches
	g.mu.Unlock()
	if n == 2 {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []service.MessageBatch{b}, nil
}

func (*holdGate) Close(context.Context) error { return nil }

// The shipped configs keep transactions short (TXN_TIMEOUT 10 s): a batch
// held longer (a Delta commit during an S3 outage) outlives its transaction,
// which the broker then aborts on its own. The input must notice at the
// commit, read again from the committed offsets and commit the records in a
// new transaction: each record of A once in B for a read_committed reader,
// and the aborted copy only for read_uncommitted.
func TestTransactionAbortedByTheBrokersTimeoutIsReadAgain(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "A", "B"))
	const n = 30
	produce(t, addr, "A", 0, n)
	gate := &holdGate{release: make(chan struct{})}
	txnHold = gate
	c := runStream(t, fmt.Sprintf(`
input:
  label: src
  kafka_franz:
    seed_brokers: [ %q ]
    topics: [ A ]
    consumer_group: held
    batching: { count: 10 }
    transaction: { enabled: true, id: held-1, timeout: 1s, commit_period: 100ms }
pipeline:
  threads: 1
  processors:
    - test_hold_second: {}
    - mapping: root = content().uppercase()
output:
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topic: B
    key: ${! @kafka_key }
    transaction: { input: src }
`, addr))

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitTxnState(t, adm, "held-1", func(s string) bool { return s == "Ongoing" })
	waitTxnState(t, adm, "held-1", func(s string) bool { return s != "Ongoing" }) // the broker's timeout
	close(gate.release)

	waitProgress(t, addr, "held", "A", n)
	c.stop(t)
	got, all := readTopic(t, addr, "B", true), readTopic(t, addr, "B", false)
	checkCopiedOnce(t, got, n)
	if len(all) <= len(got) {
		t.Errorf("B holds %d records with aborted ones, %d committed: the held transaction was not aborted", len(all), len(got))
	}
	t.Logf("B: %d committed records, %d with the aborted transaction's", len(got), len(all))
}

// waitTxnState polls the broker until the transactional id's state matches.
func waitTxnState(t *testing.T, adm *kadm.Client, id string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d, err := adm.DescribeTransactions(ctx, id)
		cancel()
		if err == nil && ok(d[id].State) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction %s: state %q (err %v) after 30 s", id, d[id].State, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the broker's state
	}
}
