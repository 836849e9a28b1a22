package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is an in-process Kafka-protocol broker (franz-go's kfake). kfake
// always listens on 127.0.0.1, on a free port.
type Broker struct {
	cluster *kfake.Cluster
	Addr    string
}

// StartBroker starts a one-node broker with the given topics and partition counts.
func StartBroker(topics map[string]int32) (*Broker, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	for name, parts := range topics {
		opts = append(opts, kfake.SeedTopics(parts, name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the embedded Kafka broker: %w", err)
	}
	return &Broker{cluster: c, Addr: c.ListenAddrs()[0]}, nil
}

// Close stops the broker.
func (b *Broker) Close() { b.cluster.Close() }

// Produce writes values (keyed by key(i)) to topic and waits for every ack.
func (b *Broker) Produce(ctx context.Context, topic string, values [][]byte, key func(i int) []byte) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: v}
		if key != nil {
			recs[i].Key = key(i)
		}
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// ReadAll returns every record currently in topic, reading until the end
// offsets seen at the start (or ctx ends).
func (b *Broker) ReadAll(ctx context.Context, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := endOffsets(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	var want int64
	for _, e := range ends {
		want += e
	}
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %d of %d records from %s: %w", len(out), want, topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out, nil
}

func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	var firstErr error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && firstErr == nil {
			firstErr = o.Err
		}
		out[o.Partition] = o.Offset
	})
	return out, firstErr
}

// CreateTopic creates a topic with topic configs (e.g. max.message.bytes).
func (b *Broker) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, cfg, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	return nil
}

// Cluster is the in-process broker itself, for fault injection (kfake's Fault).
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }
