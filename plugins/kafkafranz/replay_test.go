package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
)

// fingerprint is a delivered message as the output sees it: its content
// and every metadata key with its value and Go type.
func fingerprint(m *service.Message) string {
	b, _ := m.AsBytes()
	var kv []string
	_ = m.MetaWalkMut(func(k string, v any) error {
		kv = append(kv, fmt.Sprintf("%s=%v(%T)", k, v, v))
		return nil
	})
	slices.Sort(kv)
	return string(b) + " " + strings.Join(kv, " ")
}

// replayLog records every delivery of every record and which ones a nack
// sent back.
type replayLog struct {
	mu      sync.Mutex
	batches int
	first   map[string]string // record -> fingerprint of its first delivery
	count   map[string]int    // record -> deliveries (acked or not)
	nacked  map[string]bool
	diff    []string // replays whose fingerprint differs from the first delivery
	col     *collector
}

func newReplayLog() *replayLog {
	return &replayLog{first: map[string]string{}, count: map[string]int{}, nacked: map[string]bool{}, col: newCollector()}
}

func recordID(m *service.Message) string {
	if r, ok := kafkarecord.Of(m); ok { // set_metadata: false
		_, p, off := r.Position()
		return fmt.Sprintf("%d/%d", p, off)
	}
	return fmt.Sprintf("%d/%d", metaInt(m, "kafka_partition"), metaInt(m, "kafka_offset"))
}

// handler nacks the nth batch (counting from 1) on its first delivery with
// nack(batch), which also names the records it sends back.
func (l *replayLog) handler(nth int, nack func(service.MessageBatch) (error, []int)) service.MessageBatchHandlerFunc {
	return func(_ context.Context, b service.MessageBatch) error {
		l.mu.Lock()
		l.batches++
		n := l.batches
		for _, m := range b {
			id, fp := recordID(m), fingerprint(m)
			if first, ok := l.first[id]; !ok {
				l.first[id] = fp
			} else if first != fp {
				l.diff = append(l.diff, fmt.Sprintf("record %s: first %q, replay %q", id, first, fp))
			}
			l.count[id]++
		}
		var err error
		if n == nth {
			var failed []int
			err, failed = nack(b)
			for _, i := range failed {
				l.nacked[recordID(b[i])] = true
			}
		}
		l.mu.Unlock()
		if err != nil {
			var ok service.MessageBatch // what a partial nack delivered
			for _, m := range b {
				if !l.nackedNow(m) {
					ok = append(ok, m)
				}
			}
			l.col.add(ok)
			return err
		}
		l.col.add(b)
		return nil
	}
}

// check: every record delivered, those nacked exactly twice (first delivery
// and replay, identical), the others once, and the commits at the log end.
func (l *replayLog) check(t *testing.T, addr string, perPartition int64, wantNacked int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.diff {
		t.Error(d)
	}
	if len(l.nacked) != wantNacked {
		t.Errorf("%d records nacked, want %d", len(l.nacked), wantNacked)
	}
	for id, n := range l.count {
		want := 1
		if l.nacked[id] {
			want = 2
		}
		if n != want {
			t.Errorf("record %s delivered %d times, want %d (nacked: %v)", id, n, want, l.nacked[id])
		}
	}
	for p, off := range committed(t, addr, "g", "rides") {
		if off != perPartition {
			t.Errorf("partition %d committed %d, want %d", p, off, perPartition)
		}
	}
}

func (l *replayLog) nackedNow(m *service.Message) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nacked[recordID(m)]
}

func wholeBatchNack(b service.MessageBatch) (error, []int) {
	all := make([]int, len(b))
	for i := range all {
		all[i] = i
	}
	return errors.New("output down"), all
}

// A batch in the middle of the stream is nacked once: it is replayed with the
// same content and metadata (kafka_prev_offset included), every record
// reaches the output, nothing else is delivered twice, and the commits reach
// the log end. With batching processors the input keeps Benthos' replay.
func TestInputNackMidStreamReplaysIdentically(t *testing.T) {
	for name, extra := range map[string]string{
		"partition/unbatched":  scoped(scopePartition),
		"partition/count":      scoped(scopePartition) + "  batching: { count: 7, period: 50ms }\n",
		"poll/unbatched":       scoped(scopePoll),
		"poll/count":           scoped(scopePoll) + "  batching: { count: 7, period: 50ms }\n",
		"poll/batch_processor": scoped(scopePoll) + "  batching: { count: 7, period: 50ms, processors: [ { mapping: 'root = content()' } ] }\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
			produce(t, addr, "rides", 0, 300)
			l := newReplayLog()
			nth := 3
			if strings.Contains(name, "unbatched") {
				nth = 1 // few batches: the first fetch may hold everything
			}
			stop := runInput(t, groupInput(addr, "g", extra+"  metadata_keys: [ kafka_offset, kafka_prev_offset, kafka_key, kafka_topic_partitions, kafka_lag ]\n"), l.handler(nth, wholeBatchNack))
			l.col.waitDistinct(t, 300)
			stop()
			l.mu.Lock()
			nacked := len(l.nacked)
			l.mu.Unlock()
			if nacked == 0 {
				t.Fatal("no batch was nacked")
			}
			l.check(t, addr, 100, nacked)
		})
	}
}

// A batch error naming failed messages replays only those.
func TestInputPartialNackReplaysFailedMessagesOnly(t *testing.T) { forScopes(t, testInputPartialNack) }

// Without metadata the failed messages are found by their records.
func TestInputPartialNackWithoutMetadataReplaysFailedMessagesOnly(t *testing.T) {
	forScopes(t, func(t *testing.T, scope string) { testInputPartialNackWith(t, scope, "  set_metadata: false\n") })
}

func testInputPartialNack(t *testing.T, scope string) { testInputPartialNackWith(t, scope, "") }

func testInputPartialNackWith(t *testing.T, scope, extra string) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 300)
	l := newReplayLog()
	stop := runInput(t, groupInput(addr, "g", scoped(scope)+"  batching: { count: 10, period: 50ms }\n"+extra), l.handler(2, func(b service.MessageBatch) (error, []int) {
		cause := errors.New("two records refused")
		return service.NewBatchError(b, cause).Failed(1, cause).Failed(len(b)-1, cause), []int{1, len(b) - 1}
	}))
	l.col.waitDistinct(t, 300)
	stop()
	l.check(t, addr, 100, 2)
}

// auto_replay_nacks: false drops a nacked batch and commits past it, as
// Benthos defines the field.
func TestInputNackWithoutReplayDrops(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(3, "rides"))
	produce(t, addr, "rides", 0, 300)
	l := newReplayLog()
	stop := runInput(t, groupInput(addr, "g", scoped(scopePoll)+"  batching: { count: 10 }\n  auto_replay_nacks: false\n"), l.handler(2, wholeBatchNack))
	l.col.waitDistinct(t, 290)
	stop()
	// A clean stop commits what was released: the dropped batch included.
	for p, off := range committed(t, addr, "g", "rides") {
		if off != 100 {
			t.Errorf("partition %d committed %d, want 100", p, off)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.nacked) != 10 {
		t.Fatalf("%d records nacked, want 10", len(l.nacked))
	}
	for id, n := range l.count {
		if n != 1 {
			t.Errorf("record %s delivered %d times, want once (no replay)", id, n)
		}
	}
	if got := l.col.distinct(); got != 290 {
		t.Errorf("%d records acked, want 290", got)
	}
}

// A batch nacked after some of its partitions moved to another consumer
// replays only the records of partitions still assigned: the new owner reads
// the others from the last commit, so replaying them would only duplicate
// them (Benthos' wrapper replayed them).
func TestInputNackAfterRevokeReplaysOnlyAssignedPartitions(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(2, "rides"))
	produce(t, addr, "rides", 0, 20)

	var mu sync.Mutex
	held := map[string]bool{} // records of A's first batch, nacked after the rebalance
	seenA := map[string]int{} // deliveries to A per record
	release := make(chan struct{})
	first := true
	colA, colB := newCollector(), newCollector()
	stopA := runInput(t, groupInput(addr, "g", scoped(scopePoll)), func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		hold := first
		first = false
		for _, m := range b {
			seenA[recordID(m)]++
			if hold {
				held[recordID(m)] = true
			}
		}
		mu.Unlock()
		if hold {
			<-release
			return errors.New("nacked after the rebalance")
		}
		colA.add(b)
		return nil
	})
	deadline := time.After(30 * time.Second)
	for {
		mu.Lock()
		n := len(held)
		mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case <-deadline:
			t.Fatal("A never received a batch")
		case <-time.After(10 * time.Millisecond): // polling A's state, not waiting for time
		}
	}
	stopB := runInput(t, groupInput(addr, "g", scoped(scopePoll)), func(_ context.Context, b service.MessageBatch) error { colB.add(b); return nil })
	for colB.distinct() == 0 { // B was assigned a partition: A has revoked it
		select {
		case <-colB.cond:
		case <-deadline:
			t.Fatal("the second consumer never received records: no rebalance")
		}
	}
	close(release)
	union := func() int {
		all := map[string]bool{}
		for _, c := range []*collector{colA, colB} {
			c.mu.Lock()
			for k := range c.seen {
				all[k] = true
			}
			c.mu.Unlock()
		}
		return len(all)
	}
	for union() < 20 {
		select {
		case <-colA.cond:
		case <-colB.cond:
		case <-deadline:
			t.Fatalf("delivered %d of 20 records", union())
		}
	}
	stopA()
	stopB()

	movedToB := map[string]bool{} // partitions B consumed
	colB.mu.Lock()
	for k := range colB.seen {
		movedToB[strings.Split(k, "/")[1]] = true
	}
	colB.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	checked := 0
	for id := range held {
		if !movedToB[strings.Split(id, "/")[0]] {
			continue
		}
		checked++
		if seenA[id] != 1 {
			t.Errorf("record %s of a partition revoked from A was delivered to A %d times, want once (no replay)", id, seenA[id])
		}
	}
	if checked == 0 {
		t.Fatalf("A's nacked batch %v held no record of the partitions B took %v", held, movedToB)
	}
}

// A batch nacked again and again (past the free attempts, into the backoff)
// keeps coming back identical until accepted, and only then is committed.
// Batches of exactly 10 (30 records, no period): the first is offsets 0-9.
func TestInputNackRepeatedUntilAccepted(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "rides"))
	produce(t, addr, "rides", 0, 30)
	const nacks = 6
	var mu sync.Mutex
	count := map[string]int{}
	first := map[string]string{}
	var diff []string
	col := newCollector()
	stop := runInput(t, groupInput(addr, "g", scoped(scopePartition)+"  batching: { count: 10 }\n"), func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		for _, m := range b {
			id, fp := recordID(m), fingerprint(m)
			if f, ok := first[id]; ok && f != fp {
				diff = append(diff, id)
			}
			first[id] = fp
			count[id]++
		}
		nack := count[recordID(b[0])] <= nacks && metaInt(b[0], "kafka_offset") < 10
		mu.Unlock()
		if nack {
			return errors.New("still failing")
		}
		col.add(b)
		return nil
	})
	col.waitDistinct(t, 30)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(diff) > 0 {
		t.Errorf("replays differ from the first delivery: %v", diff)
	}
	for id, n := range count {
		want := 1
		if off, _ := strconv.Atoi(strings.Split(id, "/")[1]); off < 10 {
			want = nacks + 1
		}
		if n != want {
			t.Errorf("record %s delivered %d times, want %d", id, n, want)
		}
	}
	if got := committed(t, addr, "g", "rides")[0]; got != 30 {
		t.Errorf("committed %d, want 30", got)
	}
}
