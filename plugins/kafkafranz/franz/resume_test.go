package franz

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The tail of a backlog: one partition still has records, the others are read
// to their end. Each time the busy one reaches checkpoint_limit it is paused;
// franz-go's next fetch then holds only caught-up partitions, and the broker
// keeps it up to fetch_max_wait. Resumed by its acks meanwhile, the busy
// partition used to wait for that fetch to come back empty: a backlog's last
// records went at one checkpoint_limit per fetch_max_wait (docs/kafka.md,
// "checkpoint_limit"). Now the caught-up partitions are paused too while
// every fetchable one is at its end, so no fetch is held, and a resume fetches
// at once. The deadline is far below one fetch_max_wait: a single held fetch
// fails the test, whatever the machine's speed.
func TestResumedPartitionIsNotHeldBehindALongPollOfCaughtUpOnes(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(3, "t"))
	const total, limit = 200, 10
	for range total / limit { // one record batch per fetch (below)
		produceN(t, addr, "t", 0, limit)
	}
	produceN(t, addr, "t", 1, 1)
	produceN(t, addr, "t", 2, 1)
	const maxWait = 30 * time.Second
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) {
		cc.CheckpointLimit = limit
		cc.FetchMaxWait = maxWait
		cc.FetchMaxPartitionBytes = 1 // a fetch returns one record batch of a partition
	})
	ctx, cancel := context.WithTimeout(context.Background(), maxWait/2)
	defer cancel()
	// The pipeline acks while the next poll waits, as Benthos does.
	acks := make(chan []Chunk, 1024)
	defer close(acks)
	go func() {
		for chunks := range acks {
			for _, ch := range chunks {
				ch.Ack()
			}
		}
	}()
	start := time.Now()
	got := map[int32]int{}
	for got[0] < total || got[1] < 1 || got[2] < 1 {
		chunks, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("after %v, %v of the records read: %v (a resumed partition waited for a held fetch)",
				time.Since(start).Round(time.Millisecond), got, err)
		}
		for _, ch := range chunks {
			got[ch.Partition] += len(ch.Records)
		}
		acks <- chunks
	}
	// New records on a caught-up partition are still read.
	produceN(t, addr, "t", 2, 5)
	for got[2] < 6 {
		chunks, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("new records of partition 2: %v (read %d)", err, got[2]-1)
		}
		for _, ch := range chunks {
			got[ch.Partition] += len(ch.Records)
		}
		acks <- chunks
	}
}

// Idle pauses last only while a partition waits at checkpoint_limit: when
// that partition is revoked (or lost) instead of acked, they are lifted too,
// or the caught-up partitions would never be fetched again.
func TestIdlePausesEndWithTheLastCheckpointLimitPause(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(3, "t"))
	const limit = 10
	produceN(t, addr, "t", 0, 3*limit)
	produceN(t, addr, "t", 1, 1)
	produceN(t, addr, "t", 2, 1)
	c, _, _ := newTestConsumer(t, addr, func(cc *ConsumerConfig) { cc.CheckpointLimit = limit })
	got := map[int32]int{}
	pollUntil(t, c, func(cs []Chunk) bool {
		clear(got)
		for _, ch := range cs {
			got[ch.Partition] += len(ch.Records)
		}
		return got[0] >= limit && got[1] == 1 && got[2] == 1
	})
	cl := c.client()
	if p := cl.PauseFetchPartitions(nil); len(p["t"]) != 3 {
		t.Fatalf("paused %v, want partition 0 (checkpoint_limit) and 1, 2 (read to their end)", p)
	}
	c.drop(cl, map[string][]int32{"t": {0}}) // partition 0 revoked, its records never acked
	if p := cl.PauseFetchPartitions(nil); len(p["t"]) != 0 {
		t.Fatalf("still paused after the revoke: %v", p)
	}
}
