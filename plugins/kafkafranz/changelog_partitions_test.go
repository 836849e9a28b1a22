package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// Stage 1's progress per source partition p (key p) in G-stage1-state
// (docs/scale-out.md): a replica that died leaves its transaction open on
// the partitions it wrote to. Its keys are pending until the transaction
// ends. With one changelog partition that open transaction holds back every
// later committed progress, of any key; with key p in partition p only its
// own partition's, and the cache, which reads every partition of its topic,
// still answers for the others.
func TestChangelogOpenTransactionHidesOnlyItsOwnPartition(t *testing.T) {
	for _, tc := range []struct {
		partitions int32
		pending1   bool // key "1" behind the open transaction
	}{
		{partitions: 1, pending1: true},
		{partitions: 2, pending1: false}, // in its own partition
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

			cache := openChangelogCache(t, addr, "state")
			get := func(key string) (string, error) {
				v, err := cache.Get(ctx, key)
				return string(v), err
			}
			if v0, err := get("0"); !errors.Is(err, franz.ErrChangelogPending) {
				t.Fatalf("%d partitions: key 0 is %q (%v), want pending behind the dead replica's open transaction", tc.partitions, v0, err)
			}
			v1, err := get("1")
			if tc.pending1 {
				if !errors.Is(err, franz.ErrChangelogPending) {
					t.Fatalf("%d partitions: key 1 is %q (%v), want pending: its committed value lies behind the open transaction", tc.partitions, v1, err)
				}
			} else if err != nil || v1 != "1 as of offset 9" {
				t.Fatalf("%d partitions: key 1 is %q (%v), want its committed value", tc.partitions, v1, err)
			}
			// The broker aborts the dead replica's transaction (its timeout).
			if err := dead.EndTransaction(ctx, kgo.TryAbort); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]string{"0": "0 as of offset 4", "1": "1 as of offset 9"} {
				if v, err := getAfterPending(t, get, key); err != nil || v != want {
					t.Errorf("%d partitions, after the abort: key %s is %q (%v), want %q", tc.partitions, key, v, err, want)
				}
			}
		})
	}
}

// A replica killed with its transaction open on a state partition, then a
// second move of that partition within the transaction timeout (found on a
// real broker, docs/scale-out.md "Changelog read-back"): the next owner
// commits newer state behind the open transaction, and a third owner read
// the value from before the killed replica's transaction, older than the
// offsets it resumed from (18 rows lost). The cache must say pending, not
// give that value, until the transaction ends; then it gives the newest.
func TestChangelogKeyBehindAKilledReplicasTransactionIsPending(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "state"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	txnClient := func(id string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic("state"),
			kgo.TransactionTimeout(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	write := func(cl *kgo.Client, v string, commit bool) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("rides_agg-0"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	first, killed, second := txnClient("first"), txnClient("killed"), txnClient("second")
	write(first, "as of offset 100", true)
	write(killed, "as of offset 200 (never committed)", false) // its process died
	write(second, "as of offset 300", true)                    // the next owner, behind it

	cache := openChangelogCache(t, addr, "state")
	get := func(key string) (string, error) {
		v, err := cache.Get(ctx, key)
		return string(v), err
	}
	if v, err := get("rides_agg-0"); !errors.Is(err, franz.ErrChangelogPending) || !strings.Contains(err.Error(), "offset 2 of partition 0") {
		t.Fatalf("behind the killed replica's open transaction the cache gave %q (%v), want pending naming offset 2 of partition 0 (the killed replica's record)", v, err)
	}
	// The value visible meanwhile comes with it: a reader that knows it is
	// current (it applied the offset the reader resumes from) takes it.
	_, err := cache.Get(ctx, "rides_agg-0")
	if pe := (*franz.PendingError)(nil); !errors.As(err, &pe) || string(pe.Value) != "as of offset 100" || !pe.Found {
		t.Fatalf("pending error %v does not carry the visible value", err)
	}
	if err := killed.EndTransaction(ctx, kgo.TryAbort); err != nil { // the broker's timeout, or the id restarting
		t.Fatal(err)
	}
	if v, err := getAfterPending(t, get, "rides_agg-0"); err != nil || v != "as of offset 300" {
		t.Fatalf("after the abort the cache gave %q (%v), want the next owner's value", v, err)
	}
}

// getAfterPending reads key until it is no longer pending: Kafka writes a
// transaction's end markers after EndTransaction returns.
func getAfterPending(t *testing.T, get func(string) (string, error), key string) (string, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := get(key)
		if !errors.Is(err, franz.ErrChangelogPending) || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(20 * time.Millisecond) // polling the broker's state
	}
}
