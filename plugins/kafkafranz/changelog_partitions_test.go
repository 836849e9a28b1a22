package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Stage 1's progress per source partition p (key p) in G-stage1-state
// (docs/scale-out.md): a replica that died leaves its transaction open on
// the partitions it wrote to. With one changelog partition that open
// transaction hides every later committed progress, of any key; with key p
// in partition p it hides only its own partition's, and the cache, which
// reads every partition of its topic, still finds each key.
func TestChangelogOpenTransactionHidesOnlyItsOwnPartition(t *testing.T) {
	for _, tc := range []struct {
		partitions int32
		want1      string // key "1" as the cache reads it
	}{
		{partitions: 1, want1: ""},                 // hidden behind the open transaction
		{partitions: 2, want1: "1 as of offset 9"}, // in its own partition
	} {
		t.Run(fmt.Sprintf("%d partitions", tc.partitions), func(t *testing.T) {
			_, addr := newCluster(t, kfake.SeedTopics(tc.partitions, "state"))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Key p to partition p, modulo the topic's count (all to 0 with one).
			rec := func(key, value string, p int32) *kgo.Record {
				return &kgo.Record{Topic: "state", Key: []byte(key), Value: []byte(value), Partition: p % tc.partitions}
			}
			txnClient := func(id string) *kgo.Client {
				cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id),
					kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(cl.Close)
				return cl
			}
			commit := func(cl *kgo.Client, recs ...*kgo.Record) {
				t.Helper()
				if err := cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					t.Fatal(err)
				}
			}

			dead, live := txnClient("replica-dead"), txnClient("replica-live")
			commit(dead, rec("0", "0 as of offset 4", 0))
			// The replica that owned partition 0 dies in its next transaction.
			if err := dead.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := dead.ProduceSync(ctx, rec("0", "0 as of offset 8 (never committed)", 0)).FirstErr(); err != nil {
				t.Fatal(err)
			}
			// Another replica commits partition 1's progress after it.
			commit(live, rec("1", "1 as of offset 9", 1))

			parsed, err := changelogSpec().ParseYAML("seed_brokers: [ "+addr+" ]\ntopic: state\n", nil)
			if err != nil {
				t.Fatal(err)
			}
			cache, err := newChangelogCache(parsed, service.MockResources())
			if err != nil {
				t.Fatal(err)
			}
			v0, err := cache.Get(ctx, "0")
			if err != nil || string(v0) != "0 as of offset 4" {
				t.Fatalf("%d partitions: key 0 is %q (%v), want its last committed value", tc.partitions, v0, err)
			}
			v1, err := cache.Get(ctx, "1")
			if tc.want1 == "" {
				if !errors.Is(err, service.ErrKeyNotFound) {
					t.Fatalf("%d partitions: key 1 is %q (%v); expected hidden behind the open transaction (the gap this layout closes)", tc.partitions, v1, err)
				}
			} else if err != nil || string(v1) != tc.want1 {
				t.Fatalf("%d partitions: key 1 is %q (%v), want %q", tc.partitions, v1, err, tc.want1)
			}
			_ = cache.Close(ctx)
		})
	}
}
