package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func localRow(p int32, off int64, minute int, key string, price float64) Row {
	return Row{TimeUs: at0 + int64(minute)*int64(time.Minute/time.Microsecond), Key: key,
		Values: []Value{{F: price}, {F: 1}, Null, {F: price}, {F: price}},
		Pos:    Position{Topic: "rides", Partition: p, Offset: off}, HasPos: true, Partitions: 2}
}

func newLocal(t *testing.T, idle time.Duration) *LocalEngine {
	t.Helper()
	cfg := twoStageConfig(StageLocal)
	cfg.IdleTimeout = idle
	e, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A partition's windows leave only once its own watermark passes them, as
// one bundle per internal partition, each with the partials of its keys.
func TestLocalSendsAPartitionsWindowsWhenItsOwnWatermarkPasses(t *testing.T) {
	e := newLocal(t, 0)
	res := e.Process([]Row{localRow(0, 0, 1, `["A"]`, 2), localRow(0, 1, 2, `["B"]`, 3), localRow(1, 0, 30, `["A"]`, 5)}, epoch)
	for _, b := range res.Bundles {
		if len(b.Partials) > 0 {
			t.Fatalf("partials sent before any watermark passed their window: %+v", b)
		}
	}
	// Partition 0 reaches minute 16: its watermark (6) passes window [0,5).
	res = e.Process([]Row{localRow(0, 2, 16, `["A"]`, 7)}, epoch)
	keys := map[string]int32{}
	for _, b := range res.Bundles {
		if b.Source.Partition != 0 || b.Shards != 2 {
			t.Fatalf("bundle %+v", b)
		}
		for _, p := range b.Partials {
			keys[p.Key] = b.Shard
			if p.Key == `["A"]` && p.Rows != 1 {
				t.Fatalf("partition 1's row of A went with partition 0's partial: %+v", p)
			}
		}
	}
	if len(res.Bundles) != 2 || len(keys) != 2 || keys[`["A"]`] != ShardOf(`["A"]`, 2) || keys[`["B"]`] != ShardOf(`["B"]`, 2) {
		t.Fatalf("want one bundle per internal partition with A and B each at its shard, got %+v", res.Bundles)
	}
}

// A partition's state moves with it: the engine that loads it sends the
// same bundles as the one that wrote it, and a state of another window
// config is refused.
func TestLocalPartitionStateRoundTrips(t *testing.T) {
	a, b := newLocal(t, 0), newLocal(t, 0)
	a.Process([]Row{localRow(0, 0, 1, `["A"]`, 2.5), localRow(0, 1, 3, `["B"]`, -0.0)}, epoch)
	data, ok, err := a.SnapshotPartition("rides", 0, LocalStamp{Fence: 3})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := b.LoadPartition("rides", 0, data, epoch); err != nil {
		t.Fatal(err)
	}
	next := []Row{localRow(0, 2, 20, `["A"]`, 1)}
	ra, rb := a.Process(next, epoch), b.Process(next, epoch)
	// b first sends again the bundles the state still holds (their
	// delivery is unknown after a load), then the same new ones as a.
	resent := len(rb.Bundles) - len(ra.Bundles)
	if resent < 1 || len(ra.Bundles) == 0 {
		t.Fatalf("a sent %d bundles, b %d: want b to send the held ones again first", len(ra.Bundles), len(rb.Bundles))
	}
	for i := range ra.Bundles {
		ea, _ := EncodeBundle(&ra.Bundles[i])
		eb, _ := EncodeBundle(&rb.Bundles[resent+i])
		if string(ea) != string(eb) {
			t.Fatalf("bundles differ after a load:\n%s\n%s", ea, eb)
		}
	}
	cfg := twoStageConfig(StageLocal)
	cfg.Size = 10 * time.Minute
	c, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LoadPartition("rides", 0, data, epoch); !errors.Is(err, errOtherConfig) {
		t.Fatalf("a state of another window size loaded: %v", err)
	}
}

// An idle partition is announced once to every internal partition; stage
// merge then closes windows without it, and holds an idle announcement
// that arrives before the bundles it follows.
func TestLocalIdleAnnouncementFollowsThePartitionsBundles(t *testing.T) {
	e := newLocal(t, time.Minute)
	m := newEngine(t, twoStageConfig(StageMerge))
	first := e.Process([]Row{localRow(0, 0, 1, `["A"]`, 2), localRow(1, 0, 1, `["A"]`, 3), localRow(0, 1, 40, `["A"]`, 1)}, epoch)
	idle := e.Process([]Row{localRow(0, 2, 41, `["A"]`, 1)}, epoch.Add(2*time.Minute)) // partition 1 stays quiet
	var idleOf1 []Bundle
	for _, b := range idle.Bundles {
		if !b.Source.Idle {
			t.Fatalf("not an idle announcement: %+v", b)
		}
		if b.Source.Partition == 1 {
			idleOf1 = append(idleOf1, b)
		}
	}
	if len(idleOf1) != 2 {
		t.Fatalf("partition 1's idleness went to %d internal partitions, want 2", len(idleOf1))
	}
	q := ShardOf(`["A"]`, 2)
	feed := func(bs []Bundle) []*Emission {
		var in []MergeInput
		for i := range bs {
			if bs[i].Shard == q {
				in = append(in, MergeInput{Bundle: &bs[i]})
			}
		}
		return m.Merge(in, epoch).Emissions
	}
	// Partition 0's window bundle is late (written by another thread), so
	// its idle announcement comes first and waits for it.
	var early, late []Bundle
	for _, b := range first.Bundles {
		if b.Source.Partition == 0 && b.To > noWatermark && len(b.Partials) > 0 {
			late = append(late, b)
		} else {
			early = append(early, b)
		}
	}
	if len(late) == 0 {
		t.Fatal("partition 0 closed no window")
	}
	if em := feed(append(early, idle.Bundles...)); len(em) != 0 {
		t.Fatalf("stage merge closed a window before partition 0's partials of it came: %+v", em[0].Rows)
	}
	em := feed(late)
	if len(em) != 1 || len(em[0].Rows) != 1 || string(em[0].Rows[0].Values[2]) != "2" || !strings.Contains(em[0].Rows[0].Key, "A") {
		t.Fatalf("want window [0,5) of A with both partitions' rows, got %d emissions: %+v", len(em), em[0].Rows)
	}
	// Partition 1 wakes with a row of the window it flushed: counted
	// ClosedEarly, as stage full counts a row of a window emitted without it.
	if st := e.Process([]Row{localRow(1, 1, 2, `["A"]`, 9)}, epoch.Add(3*time.Minute)).Status[0]; st != ClosedEarly {
		t.Fatalf("a row of a window flushed at idleness: status %v, want ClosedEarly", st)
	}
}

// Bundles a writer delivered itself leave the state: a state read back
// sends again only those not delivered, and a delivered entry goes whole
// (all its internal partitions' bundles) once one of them was written.
func TestLocalDeliveredDropsOnlyTheWrittenBundles(t *testing.T) {
	e := newLocal(t, 0)
	progress := e.Process([]Row{localRow(0, 0, 1, `["A"]`, 2), localRow(0, 1, 2, `["B"]`, 3)}, epoch).Bundles
	first := e.Process([]Row{localRow(0, 2, 16, `["A"]`, 7)}, epoch).Bundles  // closes [0,5)
	second := e.Process([]Row{localRow(0, 3, 21, `["B"]`, 1)}, epoch).Bundles // closes [5,10)
	if len(first) != 2 || len(second) != 2 {
		t.Fatalf("want two bundles per window end, got %d and %d", len(first), len(second))
	}
	if changed := e.Delivered(first[:1]); len(changed) != 1 || changed[0].Partition != 0 {
		t.Fatalf("Delivered reported %v, want partition 0 changed", changed)
	}
	if changed := e.Delivered(first[:1]); len(changed) != 0 {
		t.Fatalf("a second report of the same bundles changed %v", changed)
	}
	e.Delivered(progress) // the first batch's progress, no partials
	data, _, err := e.SnapshotPartition("rides", 0, LocalStamp{})
	if err != nil {
		t.Fatal(err)
	}
	b := newLocal(t, 0)
	if err := b.LoadPartition("rides", 0, data, epoch); err != nil {
		t.Fatal(err)
	}
	resent := b.Process(nil, epoch).Bundles
	if len(resent) != len(second) {
		t.Fatalf("the state read back sent %d bundles again, want the %d undelivered ones", len(resent), len(second))
	}
	for i := range resent {
		x, _ := EncodeBundle(&resent[i])
		y, _ := EncodeBundle(&second[i])
		if string(x) != string(y) {
			t.Fatalf("resent %s, want %s", x, y)
		}
	}
}
