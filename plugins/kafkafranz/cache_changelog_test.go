package kafkafranz

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// txnWrite produces recs in one transaction and commits or aborts it.
func txnWrite(t *testing.T, addr, id string, commit bool, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

func rec(key, value string, partition int32) *kgo.Record {
	r := &kgo.Record{Topic: "state", Key: []byte(key), Partition: partition}
	if value != "" {
		r.Value = []byte(value)
	}
	return r
}

// openChangelogCache is a kafka_changelog cache on topic of the cluster at
// addr, closed with the test.
func openChangelogCache(t *testing.T, addr, topic string) *changelogCache {
	t.Helper()
	parsed, err := changelogSpec().ParseYAML("seed_brokers: [ "+addr+" ]\ntopic: "+topic+"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := newChangelogCache(parsed, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close(context.Background()) })
	return cache
}

// The cache returns a key's latest committed value: not an aborted one,
// nor one of a transaction still open; a tombstone deletes the key; writes
// are refused.
func TestChangelogCacheReturnsLatestCommittedValue(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "state"))
	cache := openChangelogCache(t, addr, "state")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	get := func(key string) (string, error) {
		v, err := cache.Get(ctx, key)
		return string(v), err
	}

	txnWrite(t, addr, "w", true, rec("0", "a1", 0), rec("1", "b1", 1))
	if v, err := get("0"); err != nil || v != "a1" {
		t.Fatalf("get 0 = %q, %v; want a1", v, err)
	}
	txnWrite(t, addr, "w", false, rec("0", "aborted", 0))
	txnWrite(t, addr, "w", true, rec("1", "b2", 1), rec("2", "c1", 0))
	for key, want := range map[string]string{"0": "a1", "1": "b2", "2": "c1"} {
		if v, err := get(key); err != nil || v != want {
			t.Errorf("get %s = %q, %v; want %s", key, v, err, want)
		}
	}
	txnWrite(t, addr, "w", true, rec("2", "", 0)) // tombstone
	if _, err := get("2"); !errors.Is(err, service.ErrKeyNotFound) {
		t.Errorf("get of a deleted key: %v, want ErrKeyNotFound", err)
	}
	if _, err := get("nope"); !errors.Is(err, service.ErrKeyNotFound) {
		t.Errorf("get of an unknown key: %v, want ErrKeyNotFound", err)
	}

	// A transaction still open is not seen: a key it wrote is pending (a newer
	// value may be committed behind it) until it ends; other keys are read.
	open, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("open"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := open.ProduceSync(ctx, rec("1", "uncommitted", 1)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if v, err := get("1"); !errors.Is(err, franz.ErrChangelogPending) {
		t.Errorf("get 1 with an open transaction holding a record of it = %q, %v; want pending", v, err)
	}
	if v, err := get("0"); err != nil || v != "a1" {
		t.Errorf("get 0 with an open transaction holding no record of it = %q, %v; want a1", v, err)
	}
	if err := open.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if v, err := getAfterPending(t, get, "1"); err != nil || v != "b2" {
		t.Errorf("get 1 after the open transaction aborted = %q, %v; want b2", v, err)
	}

	if err := cache.Set(ctx, "0", []byte("x"), nil); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("set: %v, want a read-only refusal", err)
	}
	if err := cache.Delete(ctx, "0"); err == nil {
		t.Error("delete accepted")
	}
}

// A changelog topic that does not exist is an error naming it, not an
// empty state.
func TestChangelogCacheMissingTopicIsAnError(t *testing.T) {
	_, addr := newCluster(t)
	cache := openChangelogCache(t, addr, "nope")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cache.Get(ctx, "0"); err == nil || errors.Is(err, service.ErrKeyNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("get on a missing topic: %v, want an error naming it", err)
	}
}
