package franz

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// With flush_on_write a write's records go as soon as they are queued: a
// linger of a minute does not hold them (without it, Produce waits for the
// linger and the context below ends first, failing every record).
func TestProduceFlushOnWriteDoesNotWaitForTheLinger(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := NewProducer(ProducerConfig{
		Client:       ClientConfig{SeedBrokers: c.ListenAddrs()},
		AckReplicas:  true,
		Linger:       time.Minute,
		FlushOnWrite: true,
	}, nil)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	recs := []*kgo.Record{
		{Topic: "dlq", Key: []byte("a"), Value: []byte("1")},
		{Topic: "dlq", Key: []byte("b"), Value: []byte("2")},
		{Topic: "dlq", Key: []byte("c"), Value: []byte("3")},
	}
	errs, err := p.Produce(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("record %d: %v", i, e)
		}
	}
}
