package kafkafranz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/testproc"
)

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
	gate := testproc.NewHoldGate()
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The first batch's records open the transaction; the broker's timeout ends it.
	if err := harness.AwaitTxnOpenedThenEnded(ctx, adm, "held-1", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	gate.Release()

	waitProgress(t, addr, "held", "A", n)
	c.stop(t)
	got, all := readTopic(t, addr, "B", true), readTopic(t, addr, "B", false)
	checkCopiedOnce(t, got, n)
	if len(all) <= len(got) {
		t.Errorf("B holds %d records with aborted ones, %d committed: the held transaction was not aborted", len(all), len(got))
	}
	t.Logf("B: %d committed records, %d with the aborted transaction's", len(got), len(all))
}
