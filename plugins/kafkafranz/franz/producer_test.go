package franz

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// With flush_on_write a write waits for its own records only: Flush is
// client-wide and waits until nothing at all is buffered, so with writes in
// flight together each waited for the others' records too (session 24: the
// dead-letter output's writers spent most of their time there, and the
// pipeline waited for them). Here the broker refuses another write's record
// (a retriable error) until the end; this write returns long before its
// deadline all the same.
func TestProduceFlushOnWriteWaitsForItsOwnRecordsOnly(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(1, "dlq", "slow"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// On another broker than dlq: a broker's produce requests go one at a time.
	if err := c.MoveTopicPartition("slow", 0, 1-c.LeaderFor("dlq", 0)); err != nil {
		t.Fatal(err)
	}
	slowID := c.TopicInfo("slow").TopicID
	var refusing atomic.Bool
	refusing.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.ProduceRequest)
		slow := false
		for _, tp := range r.Topics {
			slow = slow || tp.Topic == "slow" || tp.TopicID == slowID // names before v13, ids since
		}
		if !slow || !refusing.Load() {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range r.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, pp := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = pp.Partition
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	p := NewProducer(ProducerConfig{
		Client:       ClientConfig{SeedBrokers: c.ListenAddrs()},
		AckReplicas:  true,
		Linger:       10 * time.Millisecond,
		FlushOnWrite: true,
	}, nil)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	go func() {
		defer close(stuck)
		_, _ = p.Produce(ctx, []*kgo.Record{{Topic: "slow", Value: []byte("x")}})
	}()
	for p.cl.BufferedProduceRecords() == 0 { // the refused record is queued first
		runtime.Gosched()
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	errs, err := p.Produce(wctx, []*kgo.Record{{Topic: "dlq", Value: []byte("1")}})
	if err != nil || errs[0] != nil {
		t.Fatalf("write: %v %v", err, errs)
	}
	if wctx.Err() != nil {
		t.Fatal("the write waited until its deadline for another write's record")
	}
	refusing.Store(false)
	<-stuck
}
