package window

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// The internal topic is written in transactions: after the previous owner's
// last commit the group's committed offset is its commit marker, and the
// first record the new owner receives is past it. Stage 2 compares its
// state's position with the committed offset the input resumed from
// (kafka_assignment_offset), so a current state is taken at once, with no
// wait; a stale one is still read again until it catches up.
func TestStageMergeTakesACurrentStateAfterACommitMarkerAtOnce(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newChangelogMerge(t, res)
	_, s4 := splitMerge(t, processStage(t, a, internal[:4]...))
	_, s6 := splitMerge(t, processStage(t, a, internal[4:6]...)) // applied 0..5, committed offset 6: a marker
	later := func(epoch int, start any) []*service.Message {
		var ms []*service.Message
		for i, m := range internal[6:] {
			c := m.Copy()
			c.MetaSetMut("kafka_offset", 7+i) // after the marker at 6
			c.MetaSetMut(epochMeta, epoch)
			if start != nil {
				c.MetaSetMut(startMeta, start)
			}
			ms = append(ms, c)
		}
		return ms
	}

	setCache(t, res, "rides_agg-0", s6["rides_agg-0"])
	b := newChangelogMerge(t, res)
	waits := 0
	b.waitChangelog = func(context.Context) error { waits++; return nil }
	processStage(t, b, later(2, 6)...)
	if got := b.parts[0].eng.Seq(); got != 3 || waits != 0 {
		t.Fatalf("current state past a commit marker: %d waits, sequence %d; want 0 waits, sequence 3", waits, got)
	}

	// The changelog still shows the state before the last commit: read
	// again until the committed one arrives.
	setCache(t, res, "rides_agg-0", s4["rides_agg-0"])
	c := newChangelogMerge(t, res)
	waits = 0
	c.waitChangelog = func(context.Context) error {
		if waits++; waits == 2 {
			setCache(t, res, "rides_agg-0", s6["rides_agg-0"])
		}
		return nil
	}
	processStage(t, c, later(3, 6)...)
	if got := c.parts[0].eng.Seq(); got != 3 || waits != 2 {
		t.Fatalf("stale state: %d waits, sequence %d; want 2 waits, sequence 3", waits, got)
	}

	// No commit (-1): no position to reach, no wait. From an input that
	// does not say (no kafka_assignment_offset) the record before the
	// first one is the marker, never reached: the bound is waited.
	for _, tc := range []struct {
		start any
		want  int
	}{{-1, 0}, {nil, changelogTries - 1}} {
		setCache(t, res, "rides_agg-0", s6["rides_agg-0"])
		d := newChangelogMerge(t, res)
		waits = 0
		d.waitChangelog = func(context.Context) error { waits++; return nil }
		processStage(t, d, later(4, tc.start)...)
		if waits != tc.want {
			t.Fatalf("kafka_assignment_offset %v: %d waits, want %d", tc.start, waits, tc.want)
		}
	}
}

// Stage 1 likewise: a source written by a transactional producer has a
// commit marker before the first record delivered; its state as of the
// record before the committed offset is current.
func TestStagePartialTakesACurrentStateAfterACommitMarkerAtOnce(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := engine.EncodeMarker(&engine.Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC).UnixMilli(), Offset: 9})
	setCache(t, res, "0", b)
	waits := 0
	p.waitChangelog = func(context.Context) error { waits++; return nil }
	m := stageMsg("2026-03-14T00:40:00Z", 0, 11, 1) // 10: the commit marker
	m.MetaSetMut(startMeta, 10)
	got, _ := kinds(t, processStage(t, p, m))
	if waits != 0 || strings.Join(got, ",") != "marker q=0,marker q=1,changelog 0" {
		t.Fatalf("%d waits, emitted %v; want 0 waits and 00:40 late against the state's 01:00", waits, got)
	}
}

// A replica taking over several internal partitions whose states are behind
// waits for them together, not one after the other: each q's read waits at
// a barrier that opens only once both qs wait. Sequential reads never
// reach it with the second q, and the guard fails the batch.
func TestStageMergeLoadsMovedPartitionsConcurrently(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	var batch []*service.Message
	for _, q := range []int{0, 1} {
		for _, m := range internal {
			c := m.Copy()
			c.MetaSetMut("kafka_partition", q)
			c.MetaSetMut(startMeta, 6) // committed at 6, no state in the cache: behind
			batch = append(batch, c)
		}
	}
	p := newChangelogMerge(t, res)
	var waits func() int
	p.waitChangelog, waits = barrierWait(2)
	processStage(t, p, batch...)
	if p.parts[0] == nil || p.parts[1] == nil || waits() != 2*(changelogTries-1) {
		t.Fatalf("loaded q0 %v q1 %v after %d waits, want both after %d", p.parts[0] != nil, p.parts[1] != nil, waits(), 2*(changelogTries-1))
	}
}

// barrierWait returns a waitChangelog that lets each caller on only once n
// callers wait at the same time, and counts the waits; the guard fails a
// read that waits alone (sequential reads) instead of hanging.
func barrierWait(n int) (wait func(context.Context) error, waits func() int) {
	var mu sync.Mutex
	count := 0
	open := make(chan struct{})
	wait = func(context.Context) error {
		mu.Lock()
		if count++; count == n {
			close(open)
		}
		mu.Unlock()
		select {
		case <-open:
			return nil
		case <-time.After(10 * time.Second): // a guard against a hang, not a wait for time
			return errors.New("no other partition's read waited alongside this one: reads are sequential")
		}
	}
	return wait, func() int { mu.Lock(); defer mu.Unlock(); return count }
}

// Stage 1 likewise reads the states of the partitions a batch takes over
// concurrently.
func TestStagePartialLoadsMovedPartitionsConcurrently(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	var waits func() int
	p.waitChangelog, waits = barrierWait(2)
	var batch []*service.Message
	for part := range 2 {
		m := stageMsg("2026-03-14T00:40:00Z", part, 6, 1)
		m.MetaSetMut(startMeta, 6) // committed at 6, no state in the cache: behind
		batch = append(batch, m)
	}
	processStage(t, p, batch...)
	if got := waits(); got != 2*(changelogTries-1) || len(p.epochs) != 2 {
		t.Fatalf("%d partitions loaded after %d waits, want 2 after %d", len(p.epochs), got, 2*(changelogTries-1))
	}
}
