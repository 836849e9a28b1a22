package realkafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/testproc"
)

// A real broker aborts a transaction that outlived its timeout on its own
// (checked every 10 s): the shipped configs' TXN_TIMEOUT is 10 s, so a batch
// held longer (a Delta commit during an S3 outage) meets this. The
// kafka_franz input must notice at the commit, reconnect, read again from the
// committed offsets and commit every record once for read_committed; the
// aborted copy stays visible to read_uncommitted only.
func TestTransactionAbortedByTheBrokersTimeoutIsReadAgain(t *testing.T) {
	const n = 30
	be := needBroker(t)
	adm := be.adminClient(t)
	src, dst, txnID := uniqueName("held-src"), uniqueName("held-dst"), uniqueName("held")
	createTopic(t, adm, src, 1)
	createTopic(t, adm, dst, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	produceNumbered(ctx, t, be, src, n, 1)

	gate := testproc.NewHoldGate()
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: warn"); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetYAML(fmt.Sprintf(`
input:
  label: src
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topics: [ %[2]s ]
    consumer_group: %[4]s
    start_offset: earliest
    batching: { count: 10 }
    transaction: { enabled: true, id: %[4]s, timeout: 1s, commit_period: 100ms }
pipeline:
  threads: 1
  processors:
    - %[5]s: {}
    - mapping: root = content().uppercase()
output:
  kafka_franz:
    seed_brokers: [ %[1]q ]
    topic: %[3]s
    transaction: { input: src }
`, be.plaintext, src, dst, txnID, testproc.HoldName)); err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stream.Run(context.Background()) }()
	t.Cleanup(func() { _ = stream.StopWithin(10 * time.Second) })

	start := time.Now()
	// The first batch's records open the transaction; the broker's timeout ends it.
	if err := harness.AwaitTxnOpenedThenEnded(ctx, adm, txnID, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Logf("the broker ended the held transaction %v after it began", time.Since(start).Round(time.Millisecond))
	gate.Release()

	for harness.Committed(ctx, adm, txnID, src) < n {
		if ctx.Err() != nil {
			t.Fatalf("the group did not commit %d records of %s: %v", n, src, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond) // polling the group's commits
	}
	if err := stream.StopWithin(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-done

	got := readCommitted(ctx, t, be, adm, dst)
	checkCopiedOnce(t, dst, got, n)
	ends, err := adm.ListEndOffsets(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	all, err := harness.ValuesUpTo(ctx, be.consumer(t, kgo.ConsumeTopics(dst), kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords()), ends)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) <= len(got) {
		t.Errorf("%s holds %d records with aborted ones, %d committed: the held transaction was not aborted", dst, len(all), len(got))
	}
	t.Logf("%s: %d committed records, %d with the aborted transaction's", dst, len(got), len(all))
}
