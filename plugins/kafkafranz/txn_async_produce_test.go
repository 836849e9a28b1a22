package kafkafranz

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
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

// A broker that keeps refusing the transaction's records with a retriable
// error must not hold EndTxn for good: its flush gives up after the
// transaction timeout (the broker has aborted the transaction by then), the
// session is dropped and EndTxn returns an error, so the input reconnects.
func TestTransactionEndGivesUpOnAFlushPastTheTransactionTimeout(t *testing.T) {
	c, addr := newCluster(t, kfake.SeedTopics(1, "A", "B"))
	produce(t, addr, "A", 0, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons := franz.NewConsumer(franz.ConsumerConfig{
		Client: franz.ClientConfig{SeedBrokers: []string{addr}},
		Topics: franz.TopicSpec{Topics: []string{"A"}}, Group: "g",
		Txn: &franz.TxnConfig{ID: "flush-1", Timeout: 2 * time.Second},
	}, testLogger{t}, nil)
	if err := cons.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cons.Close)
	first := pollUntil(ctx, t, cons, 3)
	if err := cons.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.(*kmsg.ProduceRequest).ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.(*kmsg.ProduceRequest).Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code // retriable: franz-go retries it
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	if _, err := cons.ProduceTxn(ctx, []*kgo.Record{{Topic: "B", Value: []byte("refused")}}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range first {
		ch.Ack()
	}
	start := time.Now()
	committed, err := cons.EndTxn(ctx, true)
	if err == nil || committed {
		t.Fatalf("EndTxn: committed=%v err=%v, want an error once the flush outlived the transaction timeout", committed, err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("EndTxn returned after %v, want about the 2 s transaction timeout", d)
	}
}
