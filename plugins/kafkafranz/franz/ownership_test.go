package franz

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/miaradia/rides-connect/internal/ownership"
)

// connectWith is newTestConsumer reporting ownership to rec.
func connectWith(t *testing.T, addr string, rec *ownership.Record, mod func(*ConsumerConfig)) *Consumer {
	t.Helper()
	return connectTestConsumer(t, addr, mod, func(c *Consumer) { c.owners = rec })
}

// The process record follows the group: A alone owns both partitions, A and
// B in one process own both together (the union), and a closed consumer
// owns nothing.
func TestGroupConsumersReportWhatTheyOwnToTheProcessRecord(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	produceN(t, addr, "t", 0, 20)
	produceN(t, addr, "t", 1, 20)
	rec := ownership.New()

	a := connectWith(t, addr, rec, nil)
	pollUntil(t, a, func(cs []Chunk) bool { return records(cs) >= 40 })
	if n, known := rec.Owned("t"); !known || n != 2 {
		t.Fatalf("A alone: owned %d, known=%v; want 2, known", n, known)
	}

	b := connectWith(t, addr, rec, nil)
	pollUntil(t, b, func(cs []Chunk) bool { return len(cs) > 0 }) // B has its partition
	if n, _ := rec.Owned("t"); n != 2 {
		t.Fatalf("A and B in one process: owned %d, want 2 (the union)", n)
	}
	if a.Assigned() != 1 {
		t.Fatalf("A owns %d partitions after B joined, want 1", a.Assigned())
	}
	b.Close()
	if n, _ := rec.Owned("t"); n != 1 {
		t.Fatalf("after closing B: owned %d, want 1 (A's, until the group gives it B's)", n)
	}
	a.Close()
	if n, known := rec.Owned("t"); known || n != 0 {
		t.Fatalf("after closing both: owned %d, known=%v; want 0, unknown", n, known)
	}
}

// Direct partition consumption is not a group: it reports nothing, so the
// record stays unknown (a window reading it is not guarded).
func TestDirectPartitionConsumptionReportsNoOwnership(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"))
	produceN(t, addr, "t", 0, 20)
	rec := ownership.New()
	c := connectWith(t, addr, rec, func(conf *ConsumerConfig) {
		conf.Group = ""
		conf.Topics = TopicSpec{Partitions: map[string]map[int32]int64{"t": {0: 0}}}
	})
	pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 20 })
	if n, known := rec.Owned("t"); known || n != 0 {
		t.Fatalf("direct consumption: owned %d, known=%v; want unknown", n, known)
	}
}

// A consumer of two topics reports both partition counts at its assignment,
// before the second topic delivers anything: a window fed by it waits for
// both (window late_topic.go). A topic of another consumer is not a sibling.
func TestAConsumerReportsThePartitionCountsOfEveryTopicItReads(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(2, "t"), kfake.SeedTopics(3, "u"), kfake.SeedTopics(1, "v"))
	produceN(t, addr, "t", 0, 10)
	rec := ownership.New()
	c := connectWith(t, addr, rec, func(conf *ConsumerConfig) { conf.Topics = TopicSpec{Topics: []string{"t", "u"}} })
	pollUntil(t, c, func(cs []Chunk) bool { return records(cs) >= 10 })
	connectWith(t, addr, rec, func(conf *ConsumerConfig) { conf.Group, conf.Topics = "other", TopicSpec{Topics: []string{"v"}} })
	got := map[string]int32{}
	rec.Siblings("t", func(topic string, n int32) { got[topic] = n })
	if len(got) != 2 || got["t"] != 2 || got["u"] != 3 {
		t.Fatalf("siblings of t: %v, want t:2 and u:3 (u has delivered nothing; v is another consumer's)", got)
	}
}
