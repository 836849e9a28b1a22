package window

import (
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/ownership"
)

// A second topic whose first record comes after the window closed windows
// without it is reported (its rows of those windows are late); a topic seen
// before any emission, or the first one, is not.
func TestATopicFirstSeenAfterWindowsClosedIsReported(t *testing.T) {
	p := build(t, ridesYAML, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
	late := func(batch service.MessageBatch) int {
		_, rows, _, _ := p.extractBatch(batch)
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.noteTopics(rows)
	}
	first := service.MessageBatch{topicRide("rides", "2026-03-14T00:01:00Z", 0)}
	if n := late(first); n != 0 {
		t.Fatalf("the first topic reported %d times", n)
	}
	run(t, p, first)
	early := service.MessageBatch{topicRide("rides_eu", "2026-03-14T00:01:30Z", 0)}
	if n := late(early); n != 0 {
		t.Fatalf("a second topic seen before any emission reported %d times", n)
	}
	run(t, p, early)
	if rows, _ := run(t, p, service.MessageBatch{topicRide("rides", "2026-03-14T01:00:00Z", 1), topicRide("rides_eu", "2026-03-14T01:00:00Z", 1)}); len(rows) == 0 {
		t.Fatal("no window closed: the test needs an emission")
	}
	if n := late(service.MessageBatch{topicRide("rides_us", "2026-03-14T00:02:00Z", 0)}); n != 1 {
		t.Fatalf("a topic first seen after windows closed reported %d times, want 1", n)
	}
}

// One input reading two topics: the window waits for the second topic before
// its first record comes (the consumer reported both partition counts), so
// rows of b that come after a's records passed the window are on time.
// Before, a's records alone closed the window and b's rows were late.
func TestAWindowWaitsForEveryTopicItsInputReads(t *testing.T) {
	o := ownership.Process.Owner()
	defer o.Release()
	for _, topic := range []string{"rides", "rides_eu"} {
		o.Set(topic, 0, true)
		o.SetPartitions(topic, 1)
	}
	p := build(t, ridesYAML, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
	if rows, _ := run(t, p, service.MessageBatch{topicRide("rides", "2026-03-14T00:01:00Z", 0), topicRide("rides", "2026-03-14T01:00:00Z", 1)}); len(rows) != 0 {
		t.Fatalf("topic rides alone closed %d windows; rides_eu has not delivered yet", len(rows))
	}
	rows, _ := run(t, p, service.MessageBatch{topicRide("rides_eu", "2026-03-14T00:02:00Z", 0), topicRide("rides_eu", "2026-03-14T01:00:00Z", 1)})
	var cnt float64
	for _, r := range rows {
		if r.body["window_start"] == "2026-03-14T00:00:00.000Z" {
			cnt, _ = r.body["cnt"].(float64)
		}
	}
	if cnt != 2 {
		t.Fatalf("window 00:00 has %v rides, want 2 (one per topic); rows %v", cnt, rows)
	}
}

// topicRide is a ride in FR at ts, offset off of partition 0 of topic, a
// topic of one partition.
func topicRide(topic, ts string, off int) *service.Message {
	m := msg("FR", ts, 1, 1, 0, off)
	m.MetaSetMut("kafka_topic", topic)
	m.MetaSetMut(partitionsMeta, 1)
	m.MetaSetMut(prevOffsetMeta, off-1)
	return m
}
