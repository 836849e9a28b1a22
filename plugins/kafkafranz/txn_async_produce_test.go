package kafkafranz

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceTxn returns before the brokers answer (an output acks its batch
// once its records are in the transaction), so a record the broker refuses
// after ProduceTxn returned must still keep the transaction from
// committing: EndTxn flushes, sees the failure and aborts, and the consumer
// reads the same records again from the committed offsets.
func TestTransactionAbortsOnARecordRefusedAfterProduceReturned(t *testing.T) {
	c, addr := newCluster(t, kfake.SeedTopics(1, "A"))
	if err := c.CreateTopic("B", 1, map[string]string{"max.message.bytes": "2000"}); err != nil {
		t.Fatal(err)
	}
	produce(t, addr, "A", 0, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons := newTxnConsumer(t, addr, "async-1")
	first := pollUntil(ctx, t, cons, 10)
	if err := cons.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	recs := []*kgo.Record{
		{Topic: "B", Value: []byte("fits")},
		{Topic: "B", Value: incompressible(5000)}, // above B's max.message.bytes, compressed too
	}
	errs, err := cons.ProduceTxn(ctx, recs)
	if err != nil {
		t.Fatalf("ProduceTxn: %v", err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("record %d: %v (ProduceTxn reports failures at EndTxn)", i, e)
		}
	}
	for _, ch := range first {
		ch.Ack()
	}
	committed, err := cons.EndTxn(ctx, true)
	if err != nil {
		t.Fatalf("EndTxn: %v", err)
	}
	if committed {
		t.Fatal("the transaction committed with a record the broker refused")
	}
	if got := readTopic(t, addr, "B", true); len(got) != 0 {
		t.Fatalf("B holds %d committed records after the abort: %v", len(got), got)
	}
	again := pollUntil(ctx, t, cons, 10)
	if again[0].Records[0].Offset != 0 {
		t.Fatalf("after the abort consumption resumed at %d, want 0", again[0].Records[0].Offset)
	}

	// The failure belonged to the aborted transaction: the next one commits.
	if err := cons.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.ProduceTxn(ctx, recs[:1]); err != nil {
		t.Fatal(err)
	}
	for _, ch := range again {
		ch.Ack()
	}
	if committed, err := cons.EndTxn(ctx, true); err != nil || !committed {
		t.Fatalf("second transaction: committed=%v err=%v", committed, err)
	}
	if got := readTopic(t, addr, "B", true); len(got) != 1 || got[0] != "fits" {
		t.Fatalf("B holds %v after the second transaction, want [fits]", got)
	}
}

// incompressible is n random bytes (the producer compresses batches).
func incompressible(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
