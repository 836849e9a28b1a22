package kafkafranz

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// Stage 2's state write (docs/scale-out.md): a replica whose partitions
// moved while its transaction was open (a zombie) writes its older state
// for a key after the new owner committed a newer one. The zombie's
// transaction cannot commit, so the changelog's latest committed value of
// the key, what the kafka_changelog cache gives the next owner, stays the
// new owner's.
func TestChangelogStateOfAFencedTransactionNeverWins(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "A", "state"))
	produce(t, addr, "A", 0, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	state := func(v string) []*kgo.Record {
		return []*kgo.Record{{Topic: "state", Key: []byte("rides_agg-0"), Value: []byte(v)}}
	}

	zombie := newTxnConsumer(t, addr, "z-1")
	zchunks := pollUntil(ctx, t, zombie, 1)
	if err := zombie.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	// A new member joins: the partitions move while the zombie's
	// transaction is open. The new owner consumes, writes its state and
	// commits.
	owner := newTxnConsumer(t, addr, "z-2")
	polled := make(chan []franz.Chunk, 1)
	go func() { polled <- pollUntil(ctx, t, owner, 1) }()
	waitAssigned(ctx, t, owner)
	ochunks := <-polled
	if err := owner.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.ProduceTxn(ctx, state("owner")); err != nil {
		t.Fatal(err)
	}
	for _, ch := range ochunks {
		ch.Ack()
	}
	if committed, err := owner.EndTxn(ctx, true); err != nil || !committed {
		t.Fatalf("the new owner's transaction: committed %v, %v", committed, err)
	}

	// The zombie wakes up and writes its older state after the owner's.
	_, produceErr := zombie.ProduceTxn(ctx, state("zombie"))
	for _, ch := range zchunks {
		ch.Ack()
	}
	committed, err := zombie.EndTxn(ctx, true)
	if committed {
		t.Fatalf("a session whose partitions moved committed its transaction (produce: %v, end: %v)", produceErr, err)
	}
	t.Logf("zombie: produce %v, end: committed %v, %v", produceErr, committed, err)

	cache := openChangelogCache(t, addr, "state")
	v, err := cache.Get(ctx, "rides_agg-0")
	if err != nil || string(v) != "owner" {
		t.Fatalf("the changelog's latest committed state is %q (%v), want the new owner's", v, err)
	}
	for _, r := range readTopic(t, addr, "state", true) {
		if r == "zombie" {
			t.Fatal("the zombie's state is visible to read_committed")
		}
	}
}
