package kafkafranz

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A transactional input that restarts under the id of a killed session
// aborts that session's open transaction when it connects, even with
// nothing to read: read_committed readers of the topics it wrote are not
// held until the transaction times out. Before, franz-go initialised the
// producer id only at the first transaction, and a scale-out replica with
// nothing to read stalled its peers' stage 2 for a minute.
func TestTransactionalInputAbortsItsPredecessorsOpenTransactionAtConnect(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "A", "out"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	killed, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("k-1"), kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer killed.Close()
	if err := killed.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := killed.ProduceSync(ctx, &kgo.Record{Topic: "out", Value: []byte("left open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(killed)
	open := func() bool {
		t.Helper()
		end, err := adm.ListEndOffsets(ctx, "out")
		if err != nil {
			t.Fatal(err)
		}
		stable, err := adm.ListCommittedOffsets(ctx, "out")
		if err != nil {
			t.Fatal(err)
		}
		e, _ := end.Lookup("out", 0)
		s, _ := stable.Lookup("out", 0)
		return s.Offset < e.Offset
	}
	if !open() {
		t.Fatal("the killed session's transaction is not open: the test proves nothing")
	}

	newTxnConsumer(t, addr, "k-1") // connects; topic A is empty
	deadline := time.Now().Add(5 * time.Second)
	for open() {
		if time.Now().After(deadline) {
			t.Fatal("the predecessor's transaction is still open 5 s after the input connected under its id")
		}
		time.Sleep(20 * time.Millisecond) // polling the broker
	}
}
