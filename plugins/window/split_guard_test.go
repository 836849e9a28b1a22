package window

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
	"github.com/miaradia/rides-connect/internal/ownership"
)

// ridesOf6 is a batch of topic rides (6 partitions) from partitions 0 and 1.
func ridesOf6() service.MessageBatch {
	b := service.MessageBatch{
		msg("FR", "2026-03-14T00:01:00Z", 10, 5, 0, 0),
		msg("US", "2026-03-14T00:02:00Z", 20, 7, 1, 0),
	}
	for _, m := range b {
		m.MetaSetMut(partitionsMeta, int64(6))
	}
	return b
}

// owning registers, in a fresh record, one group consumer owning parts of rides.
func owning(parts ...int32) (*ownership.Record, *ownership.Owner) {
	rec := ownership.New()
	o := rec.Owner()
	for _, q := range parts {
		o.Set("rides", q, true)
	}
	return rec, o
}

// guarded is the rides window on its own cache, reading ownership from rec.
func guarded(t *testing.T, rec *ownership.Record) (*processor, *service.Resources) {
	t.Helper()
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	p.guard = &splitGuard{owners: rec}
	return p, res
}

// processAsync runs ProcessBatch in the background.
func processAsync(ctx context.Context, p *processor, b service.MessageBatch) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := p.ProcessBatch(ctx, b)
		done <- err
	}()
	return done
}

// waitHeld polls (bounded by a deadline) until the guard has held a batch
// (the first one held is always logged).
func waitHeld(t *testing.T, p *processor) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		logged := !p.guard.held.LoggedAt().IsZero()
		if logged {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the guard held no batch")
		}
		time.Sleep(5 * time.Millisecond) // another goroutine's progress, bounded by the deadline
	}
}

func checkpointed(t *testing.T, res *service.Resources) bool {
	t.Helper()
	var getErr error
	if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) {
		_, getErr = c.Get(context.Background(), "rides_agg")
	}); err != nil {
		t.Fatal(err)
	}
	return getErr == nil
}

// Owning 3 of 6 partitions (another replica in the group has the rest), a
// batch is held: nothing reaches the engine or the checkpoint, and on
// shutdown it fails with a message saying what to do.
func TestStageFullHoldsABatchWhileItOwnsPartOfTheTopic(t *testing.T) {
	rec, _ := owning(0, 1, 2)
	p, res := guarded(t, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := processAsync(ctx, p, ridesOf6())
	waitHeld(t, p)
	p.mu.Lock()
	ver, open := p.ver, p.eng.OpenGroups()
	p.mu.Unlock()
	if ver != 0 || open != 0 {
		t.Fatalf("held batch reached the engine: version %d, %d open windows", ver, open)
	}
	cancel()
	err := <-done
	if err == nil || !errors.Is(err, context.Canceled) ||
		!strings.Contains(err.Error(), "owns 3 of 6") || !strings.Contains(err.Error(), "stage partial/merge") {
		t.Fatalf("err = %v; want the split explained, wrapping the shutdown", err)
	}
	if p.ver != 0 || p.eng.OpenGroups() != 0 || checkpointed(t, res) {
		t.Fatalf("after the refusal: version %d, %d open windows, checkpoint written %v; want none",
			p.ver, p.eng.OpenGroups(), checkpointed(t, res))
	}
}

// When the other replica leaves and this process owns all 6 partitions, the
// held batch goes on and is applied, once.
func TestAHeldBatchGoesOnOnceTheProcessOwnsTheWholeTopic(t *testing.T) {
	rec, o := owning(0, 1, 2)
	p, res := guarded(t, rec)
	done := processAsync(context.Background(), p, ridesOf6())
	waitHeld(t, p)
	for q := int32(3); q < 6; q++ {
		o.Set("rides", q, true)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p.ver != 1 || p.eng.OpenGroups() != 2 || !checkpointed(t, res) {
		t.Fatalf("after taking the whole topic: version %d, %d open windows, checkpoint %v; want 1, 2, written",
			p.ver, p.eng.OpenGroups(), checkpointed(t, res))
	}
}

// No group consumer of the topic in the process (generate input, direct
// partitions, tests): ownership is unknown and nothing changes. Nor without
// the partition count.
func TestStageFullIsUnchangedWithoutAGroupConsumerOfTheTopic(t *testing.T) {
	rec := ownership.New()
	other := rec.Owner()
	other.Set("another_topic", 0, true) // known for another topic only
	p, _ := guarded(t, rec)
	if _, err := p.ProcessBatch(context.Background(), ridesOf6()); err != nil {
		t.Fatal(err)
	}
	if p.ver != 1 || p.eng.OpenGroups() != 2 {
		t.Fatalf("unknown ownership: version %d, %d open windows; want the batch applied", p.ver, p.eng.OpenGroups())
	}

	rec2, _ := owning(0)
	p2, _ := guarded(t, rec2)
	b := ridesOf6()
	for _, m := range b {
		m.MetaDelete(partitionsMeta)
	}
	if _, err := p2.ProcessBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if p2.ver != 1 {
		t.Fatalf("without kafka_topic_partitions: version %d, want the batch applied", p2.ver)
	}
}

// Held batches are logged once per splitLogEvery, not once per batch.
func TestHeldBatchesAreLoggedAtMostOncePerInterval(t *testing.T) {
	g := &splitGuard{}
	log := service.MockResources().Logger()
	t0 := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	s := splitTopic{"rides", 3, 6}
	lines := 0
	for _, at := range []time.Duration{0, time.Second, 59 * time.Second, splitLogEvery, splitLogEvery + time.Second} {
		before := g.held.LoggedAt()
		g.logHeld(log, s, t0.Add(at))
		if g.held.LoggedAt() != before {
			lines++
		}
	}
	if lines != 2 {
		t.Fatalf("%d log lines for 5 held batches over one interval, want 2", lines)
	}
}

// A process that loaded its state before another one, alone in the group,
// went on and checkpointed, reloads that checkpoint when it takes the topic
// over: it resumes at the other one's committed offsets, so its own older
// state would miss the rows in between.
func TestStageFullReloadsTheStateAnotherProcessWroteWhileItOwnedNothing(t *testing.T) {
	rec := ownership.New()
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock()) // loads the (empty) checkpoint, owns nothing yet
	p.guard, p.gains = &splitGuard{owners: rec}, rec.Gains()

	other := build(t, ridesYAML, res, newClock()) // the replica alone in the group meanwhile
	other.guard = nil
	if _, err := other.ProcessBatch(context.Background(), ridesOf6()); err != nil { // FR and US
		t.Fatal(err)
	}

	o := rec.Owner() // the other one left: this process takes all 6 partitions
	for q := int32(0); q < 6; q++ {
		o.Set("rides", q, true)
	}
	next := msg("DE", "2026-03-14T00:03:00Z", 5, 1, 0, 1)
	next.MetaSetMut(partitionsMeta, int64(6))
	if _, err := p.ProcessBatch(context.Background(), service.MessageBatch{next}); err != nil {
		t.Fatal(err)
	}
	if n := p.eng.OpenGroups(); n != 3 {
		t.Fatalf("%d open windows after taking over, want 3 (FR and US from the other process's checkpoint, DE)", n)
	}
	again := build(t, ridesYAML, res, newClock())
	if n := again.eng.OpenGroups(); n != 3 {
		t.Fatalf("the checkpoint written after taking over has %d open windows, want 3", n)
	}
}

// chunkOf is a kafkarecord.Source: one fetched chunk of rides records of
// one partition, at offsets 0.., which the test can mark lost.
type chunkOf struct {
	partition int32
	lost      atomic.Bool
}

func (c *chunkOf) Position(i int) (string, int32, int64) { return "rides", c.partition, int64(i) }
func (c *chunkOf) Int(i int, key string) (int64, bool) {
	switch key {
	case "kafka_partition":
		return int64(c.partition), true
	case "kafka_offset":
		return int64(i), true
	case partitionsMeta:
		return 6, true
	}
	return 0, false
}
func (c *chunkOf) String(i int, key string) (string, bool) {
	return "rides", key == "kafka_topic"
}
func (c *chunkOf) EmptyPartitions() []int32                { return nil }
func (c *chunkOf) SetMetadata(msg *service.Message, i int) {}
func (c *chunkOf) Live() bool                              { return !c.lost.Load() }

// A batch held while another replica shared the topic comes back without
// the records of a partition that was lost meanwhile (taken over, then
// assigned to this process again in a new epoch, which reads them again):
// the partition-1 ride is applied, the partition-0 one is not, and a
// dead letter of it would not be written a second time (red team rt19a).
func TestAHeldBatchDropsTheRecordsOfAPartitionLostMeanwhile(t *testing.T) {
	rec, o := owning(0, 1, 2)
	p, _ := guarded(t, rec)
	p0, p1 := &chunkOf{partition: 0}, &chunkOf{partition: 1}
	plain := ridesOf6()
	batch := service.MessageBatch{kafkarecord.Carriers(p0, 1)[0].Attach(plain[0]), kafkarecord.Carriers(p1, 1)[0].Attach(plain[1])}
	done := processAsync(context.Background(), p, batch)
	waitHeld(t, p)
	p0.lost.Store(true) // partition 0 moved while the batch waited
	for q := int32(3); q < 6; q++ {
		o.Set("rides", q, true)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p.eng.OpenGroups() != 1 {
		t.Fatalf("%d open windows after the hold, want 1: the record of the lost partition was applied", p.eng.OpenGroups())
	}
}

// Without a hold too: a batch read before its partition was reassigned and
// processed after (it waited for a pipeline thread) is dropped; a live
// chunk's records of the same batch are applied (red team rt19c).
func TestABatchOfAPartitionLostSinceItWasReadIsDropped(t *testing.T) {
	rec, _ := owning(0, 1, 2, 3, 4, 5)
	p, _ := guarded(t, rec)
	p0, p1 := &chunkOf{partition: 0}, &chunkOf{partition: 1}
	p0.lost.Store(true)
	plain := append(ridesOf6(), msg("DE", "2026-03-14T00:03:00Z", 30, 9, 0, 1))
	c0 := kafkarecord.Carriers(p0, 2)
	batch := service.MessageBatch{c0[0].Attach(plain[0]), kafkarecord.Carriers(p1, 1)[0].Attach(plain[1]), c0[1].Attach(plain[2])}
	if _, err := p.ProcessBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if p.eng.OpenGroups() != 1 {
		t.Fatalf("%d open windows, want 1: records of the lost partition were applied", p.eng.OpenGroups())
	}
}

// A hot standby (its consumer joined the group and owns no partition of the
// topic its state knows) applies no heartbeat: with the active process's
// checkpoint restored, it would re-emit that process's retained rows (the
// crash tier caught it: 70 rows written by the standby) and, past
// idle_timeout, close windows on processing time that the active one closes.
func TestAHotStandbyAppliesNoHeartbeat(t *testing.T) {
	ctx := context.Background()
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	one := func(ts string, off int) *service.Message {
		m := msg("FR", ts, 10, 5, 0, off)
		m.MetaSetMut(partitionsMeta, int64(1))
		return m
	}
	rows := func(out []service.MessageBatch) (n int) {
		for _, b := range out {
			n += len(b)
		}
		return n
	}
	active := build(t, ridesYAML, res, newClock())
	out, err := active.ProcessBatch(ctx, service.MessageBatch{one("2026-03-14T00:01:00Z", 0), one("2026-03-14T01:00:00Z", 1)})
	if err != nil || rows(out) == 0 {
		t.Fatalf("the active process emitted %d rows (%v), want the 00:00 window", rows(out), err)
	}
	hb := func() service.MessageBatch {
		m := service.NewMessage(nil)
		m.MetaSetMut(heartbeatMeta, true)
		return service.MessageBatch{m}
	}
	rec, o := owning()
	o.Watch("rides")
	standby := build(t, ridesYAML, res, newClock()) // restores the active's checkpoint
	standby.guard = &splitGuard{owners: rec}
	if out, err := standby.ProcessBatch(ctx, hb()); err != nil || rows(out) != 0 {
		t.Fatalf("the standby's heartbeat wrote %d rows (%v)", rows(out), err)
	}
	// Owning the topic, the same state re-emits its retained rows.
	o.Set("rides", 0, true)
	if out, err := standby.ProcessBatch(ctx, hb()); err != nil || rows(out) == 0 {
		t.Fatalf("after the takeover the heartbeat re-emitted %d rows (%v), want the retained ones", rows(out), err)
	}
}
