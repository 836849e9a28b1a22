package franz

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func chunkOf(topic string, partition int32, first int64, n int) Chunk {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Offset: first + int64(i)}
	}
	return Chunk{Topic: topic, Partition: partition, Records: recs}
}

func describe(chunks []Chunk) []string {
	var out []string
	for _, c := range chunks {
		out = append(out, c.Topic+":"+string(rune('0'+c.Partition))+"@"+string(rune('0'+c.Records[0].Offset/10)))
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A round waits for every lagging partition; a partition that contributes
// again meanwhile goes to the next round; a round whose wait ran out is
// taken anyway, and the partitions it missed are not waited for again until
// they deliver records.
func TestRoundsGatherOneFetchOfEveryLaggingPartition(t *testing.T) {
	now := time.Unix(0, 0)
	r := &Rounds{Wait: time.Second, Now: func() time.Time { return now }}
	a, b := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	both := []TopicPartition{a, b}

	if _, ok := r.Take(both); ok {
		t.Fatal("an empty round was taken")
	}
	r.Add([]Chunk{chunkOf("t", 0, 0, 10), chunkOf("t", 0, 10, 10)}) // one fetch of A in two chunks
	if _, ok := r.Take(both); ok {
		t.Fatal("round taken without B, which is lagging")
	}
	r.Add([]Chunk{chunkOf("t", 0, 20, 10)}) // A again, before B: next round
	r.Add([]Chunk{chunkOf("t", 1, 0, 10)})
	round, ok := r.Take(both)
	if want := []string{"t:0@0", "t:0@1", "t:1@0"}; !ok || !sameStrings(describe(round), want) {
		t.Fatalf("round %v (ok %v), want %v", describe(round), ok, want)
	}
	// The next round holds A's second fetch and waits for B.
	if _, ok := r.Take(both); ok {
		t.Fatal("next round taken without B")
	}
	if _, ok := r.Take([]TopicPartition{a}); !ok {
		t.Fatal("round not taken although B is no longer lagging")
	}

	r.Add([]Chunk{chunkOf("t", 0, 30, 10)})
	deadline, pending := r.Pending()
	if !pending || !deadline.Equal(now.Add(time.Second)) {
		t.Fatalf("pending %v until %v, want until %v", pending, deadline, now.Add(time.Second))
	}
	now = now.Add(999 * time.Millisecond)
	if _, ok := r.Take(both); ok {
		t.Fatal("taken before the wait ran out")
	}
	now = now.Add(time.Millisecond)
	if round, ok := r.Take(both); !ok || len(round) != 1 || r.Incomplete() != 1 {
		t.Fatalf("round %v ok %v incomplete %d: want A's fetch alone once the wait ran out", describe(round), ok, r.Incomplete())
	}
	// B did not answer: the next round does not wait for it again ...
	r.Add([]Chunk{chunkOf("t", 0, 40, 10)})
	if _, ok := r.Take(both); !ok {
		t.Fatal("waited again for a partition that already missed a round")
	}
	// ... until it delivers records: then it is waited for again.
	r.Add([]Chunk{chunkOf("t", 1, 10, 10)})
	if _, ok := r.Take([]TopicPartition{b}); !ok {
		t.Fatal("B's round not taken")
	}
	r.Add([]Chunk{chunkOf("t", 0, 50, 10)})
	if _, ok := r.Take(both); ok {
		t.Fatal("B delivered again, so a round must wait for it")
	}
}

// A partition whose broker is fast can deliver several fetches while a round
// waits for a slow one. Each of them goes to its own later round: a round
// holding two fetches of A and one of B would advance A's event time by two
// fetches and B's by one, and B's next fetch would be late behind the
// watermark A set (the backlog test saw 900 late rides in poll scope when
// one broker answered slower than the others).
func TestRoundsTakeOneFetchOfAPartitionPerRoundHoweverFastItsBroker(t *testing.T) {
	now := time.Unix(0, 0)
	r := &Rounds{Wait: time.Minute, Now: func() time.Time { return now }}
	both := []TopicPartition{{"t", 0}, {"t", 1}}
	for f := range int64(3) { // three fetches of A before B answers once
		r.Add([]Chunk{chunkOf("t", 0, f*10, 10)})
	}
	r.Add([]Chunk{chunkOf("t", 1, 0, 10)})
	for i, want := range [][]string{{"t:0@0", "t:1@0"}, {"t:0@1", "t:1@1"}, {"t:0@2", "t:1@2"}} {
		if i > 0 {
			if round, ok := r.Take(both); ok {
				t.Fatalf("round %d taken before B's fetch %d: %v", i, i, describe(round))
			}
			r.Add([]Chunk{chunkOf("t", 1, int64(i)*10, 10)})
		}
		round, ok := r.Take(both)
		if !ok || !sameStrings(describe(round), want) {
			t.Fatalf("round %d: %v (ok %v), want %v", i, describe(round), ok, want)
		}
	}
	if _, pending := r.Pending(); pending {
		t.Fatal("a round is still gathering after every fetch was taken")
	}
}
