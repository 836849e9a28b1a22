package window

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// The two stages as Benthos streams, without Kafka: generate → stage
// partial → an in-memory internal topic (partials by key hash, markers by
// window_marker_partition) → stage merge, read back in random batches
// interleaving its partitions, equal to stage full on the same records.

// streamRides are the test's records: 3000 rides over 3 source partitions,
// disordered by up to 4 minutes. Built in Go, not by a generate input: its
// count() counter is global to the process, so a second run (-count=2)
// continued at offset 1000 and its first batch waited for offset 999.
func streamRides() [][]*service.Message {
	parts := make([][]*service.Message, 3)
	for i := 0; i < 3000; i++ {
		p, off := i%3, int64(i/3)
		body := fmt.Sprintf(`{"city":%q,"price":%v,"distanceKm":%v,"ts":%d}`,
			[]string{"PARIS", "LYON", "NICE", "LILLE"}[i*7%4], float64(i*37%1000)/100,
			float64(i*13%97)/7, 1767225600+i*3-(i*7919%240))
		m := service.NewMessage([]byte(body))
		m.MetaSetMut("kafka_topic", "rides")
		m.MetaSetMut("kafka_partition", int64(p))
		m.MetaSetMut("kafka_offset", off)
		m.MetaSetMut(prevOffsetMeta, off-1)
		m.MetaSetMut("kafka_topic_partitions", int64(3))
		m.MetaSetMut(epochMeta, int64(1))
		parts[p] = append(parts[p], m)
	}
	return parts
}

// feedPartitions sends each partition's records in batches of random
// sizes, one goroutine per partition, a batch only once the one before it
// of its partition was acked downstream: the order kafka_franz's
// transactional input keeps (reader_txn_order.go), without which stage 1's
// outputs of two batches of a partition could reach the internal topic in
// either order.
func feedPartitions(t *testing.T, send func(service.MessageBatch), parts [][]*service.Message, seed int64) {
	var wg sync.WaitGroup
	for p, msgs := range parts {
		wg.Add(1)
		go func(rng *rand.Rand, msgs []*service.Message) {
			defer wg.Done()
			for len(msgs) > 0 {
				n := min(len(msgs), 1+rng.Intn(40))
				var b service.MessageBatch
				for _, m := range msgs[:n] {
					b = append(b, m.Copy())
				}
				send(b)
				msgs = msgs[n:]
			}
		}(rand.New(rand.NewSource(seed+int64(p))), msgs)
	}
	wg.Wait()
}

func windowYAML(stage string) string {
	return `
tumbling_window:
  stage: ` + stage + `
  timestamp: this.ts
  size: 5m
  watermark: { delay: 10m }
  group_by: { city: this.city }
  aggregates:
    revenue: { op: sum, value: this.price }
    avg_distance: { op: avg, value: this.distanceKm }
    lo: { op: min, value: this.distanceKm }
    cnt: { op: count }
  state: { cache: state, key: rides_agg }
`
}

// runStage builds input → window → a consumer and runs it; with a nil
// input YAML it returns a producer to feed the stream and stop to end it.
// Options change the processor's YAML or add to the stream.
func runStage(t *testing.T, threads int, stage string, consume func(service.MessageBatch), opts ...func(b *service.StreamBuilder, proc *string) error) (send func(service.MessageBatch), stop func()) {
	t.Helper()
	b := service.NewStreamBuilder()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.SetLoggerYAML("level: warn"))
	b.SetThreads(threads)
	must(b.AddCacheYAML("label: state\nmemory: {}"))
	proc := windowYAML(stage)
	for _, o := range opts {
		must(o(b, &proc))
	}
	must(b.AddProcessorYAML(proc))
	prod, err := b.AddBatchProducerFunc()
	must(err)
	var mu sync.Mutex
	must(b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		consume(batch)
		return nil
	}))
	strm, err := b.Build()
	must(err)
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	go func() { done <- strm.Run(ctx) }()
	stop = func() {
		defer cancel()
		must(strm.StopWithin(30 * time.Second))
		<-done
	}
	return func(batch service.MessageBatch) { must(prod(ctx, batch)) }, stop
}

// The merged rows equal stage full's whatever the pipeline threads of
// either stage and however the partitions are split into batches.
func TestStreamPartialShuffleMergeEqualsFull(t *testing.T) {
	parts := streamRides()
	for threads := 1; threads <= 4; threads++ {
		for seed := int64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("threads=%d/seed=%d", threads, seed), func(t *testing.T) {
				partialShuffleMerge(t, parts, threads, seed)
			})
		}
	}
}

// streamFull is stage full's rows of the records, by window_id.
func streamFull(t *testing.T, parts [][]*service.Message, threads int, seed int64) map[string]string {
	full := map[string]string{}
	send, stop := runStage(t, threads, "full", func(b service.MessageBatch) {
		for _, m := range b {
			id, _ := m.MetaGet("window_id")
			body, _ := m.AsBytes()
			full[id] = string(body)
		}
	})
	feedPartitions(t, send, parts, seed*100)
	stop()
	if len(full) < 50 {
		t.Fatalf("the full stage emitted only %d rows", len(full))
	}
	return full
}

func partialShuffleMerge(t *testing.T, parts [][]*service.Message, threads int, seed int64) {
	full := streamFull(t, parts, threads, seed)
	const q = 3
	internal := make([]service.MessageBatch, q)
	changelog := map[string]string{}
	send, stop := runStage(t, threads, "partial", func(b service.MessageBatch) {
		for _, m := range b {
			if m.GetError() != nil {
				t.Errorf("stage partial passed on an errored message: %v", m.GetError())
				continue
			}
			kind, _ := m.MetaGet(kindMeta)
			body, _ := m.AsBytes()
			rec := service.NewMessage(append([]byte(nil), body...))
			rec.MetaSetMut(kindMeta, kind)
			switch {
			case kind == kindPartial:
				key, _ := m.MetaGet(groupKeyMeta)
				h := fnv.New32a()
				h.Write([]byte(key))
				p := int(h.Sum32() % q)
				internal[p] = append(internal[p], rec)
			case kind == kindMarker:
				if k, ok := m.MetaGet(changelogKeyMeta); ok {
					changelog[k] = string(body)
					continue
				}
				p, ok := metaInt(m, markerPartMeta)
				if !ok {
					t.Fatalf("marker without %s or %s", markerPartMeta, changelogKeyMeta)
				}
				internal[p] = append(internal[p], rec)
			default:
				t.Fatalf("stage partial emitted %q (metadata %s %q)", body, kindMeta, kind)
			}
		}
	})
	feedPartitions(t, send, parts, seed)
	stop()
	if len(changelog) != 3 {
		t.Fatalf("changelog has %d source partitions, want 3", len(changelog))
	}
	mergeEqualsFull(t, internal, full, threads, seed)
}

// mergeEqualsFull runs stage merge on the internal topic's partitions, read
// in random batches interleaving them, and compares its rows with full's.
func mergeEqualsFull(t *testing.T, internal []service.MessageBatch, full map[string]string, threads int, seed int64) {
	q := len(internal)
	merged := map[string]string{}
	seqs := map[string]int64{}
	send, stop := runStage(t, threads, "merge", func(b service.MessageBatch) {
		for _, m := range b {
			if m.GetError() != nil {
				t.Errorf("stage merge passed on an errored message: %v", m.GetError())
				continue
			}
			id, _ := m.MetaGet("window_id")
			qs, ok1 := m.MetaGet(statePartitionMeta)
			seq, ok2 := metaInt(m, "window_emit_seq")
			if !ok1 || !ok2 {
				t.Fatalf("merged row without %s or window_emit_seq", statePartitionMeta)
			}
			body, _ := m.AsBytes()
			if old, dup := merged[id]; dup && old != string(body) {
				t.Fatalf("window %s emitted twice with different rows", id)
			}
			merged[id] = string(body)
			seqs[qs+"/"+fmt.Sprint(seq)]++
		}
	})
	rng := rand.New(rand.NewSource(seed))
	next := make([]int, q)
	for {
		var batch service.MessageBatch
		for n := 1 + rng.Intn(25); n > 0; n-- {
			var live []int
			for p := range internal {
				if next[p] < len(internal[p]) {
					live = append(live, p)
				}
			}
			if len(live) == 0 {
				break
			}
			p := live[rng.Intn(len(live))]
			m := internal[p][next[p]].Copy()
			m.MetaSetMut("kafka_topic", "rides_agg-repartition")
			m.MetaSetMut("kafka_partition", int64(p))
			m.MetaSetMut("kafka_offset", int64(next[p]))
			m.MetaSetMut(prevOffsetMeta, int64(next[p]-1))
			m.MetaSetMut(epochMeta, int64(1))
			batch = append(batch, m)
			next[p]++
		}
		if len(batch) == 0 {
			break
		}
		send(batch)
	}
	stop()

	var diff []string
	for id, b := range full {
		if merged[id] != b {
			diff = append(diff, fmt.Sprintf("%s: full %s, merged %q", id, b, merged[id]))
		}
	}
	for id := range merged {
		if _, ok := full[id]; !ok {
			diff = append(diff, id+": only merged")
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("%d of %d rows differ, e.g.\n%s", len(diff), len(full), diff[:min(5, len(diff))])
	}
	// One sequence per window and internal partition.
	windows := map[string]bool{}
	for id := range merged {
		windows[id[:len(id)-17]] = true // window_id minus the key hash
	}
	t.Logf("%d rows in %d (partition, sequence) pairs, %d windows", len(merged), len(seqs), len(windows))
}
