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

// senderRig is a bundleSender whose clock only moves when a test fires it
// and whose writes a test sees (and can fail or hold).
type senderRig struct {
	s         *bundleSender
	writes    chan service.MessageBatch
	fail      func() error
	tick      chan time.Time
	delivered chan []engine.Bundle
}

func newSenderRig(t *testing.T, period time.Duration, maxPending int) *senderRig {
	t.Helper()
	r := &senderRig{writes: make(chan service.MessageBatch, 16), fail: func() error { return nil },
		tick: make(chan time.Time), delivered: make(chan []engine.Bundle, 16)}
	res := service.MockResources()
	write := func(ctx context.Context, b service.MessageBatch) error {
		if err := r.fail(); err != nil {
			return err
		}
		select {
		case r.writes <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.s = newBundleSender(write, func(bs []engine.Bundle) { r.delivered <- bs }, period, maxPending, res.Logger(), newMetrics(res.Metrics()))
	r.s.after = func(time.Duration) <-chan time.Time { return r.tick }
	r.s.start()
	t.Cleanup(func() { r.s.Close(context.Background()) })
	return r
}

func bundleOf(p int32, from, to int64) engine.Bundle {
	return engine.Bundle{Source: engine.Marker{Topic: "rides", Partition: p, Offset: to}, From: from, To: to, Shards: 1,
		Partials: []engine.Partial{{StartUs: from, Key: `["A"]`, Rows: 1}}}
}

func (r *senderRig) nextWrite(t *testing.T) service.MessageBatch {
	t.Helper()
	select {
	case b := <-r.writes:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no write")
		return nil
	}
}

// delivers waits for the next write, which must carry n bundles (what
// says which), and for its delivery to be reported.
func (r *senderRig) delivers(t *testing.T, n int, what string) {
	t.Helper()
	if b := r.nextWrite(t); len(b) != n {
		t.Fatalf("%s has %d bundles, want %d", what, len(b), n)
	}
	<-r.delivered
}

// A write waits until every source partition that sent bundles has passed
// the latest window end queued, then carries all of them at once.
func TestBundleSenderGathersAWindowEndOfEveryPartition(t *testing.T) {
	r := newSenderRig(t, time.Hour, 100)
	r.s.add([]engine.Bundle{bundleOf(0, 0, 5)})
	r.s.add([]engine.Bundle{bundleOf(1, 0, 5)})
	r.delivers(t, 2, "first write") // both at 5: caught up, no timer needed
	r.s.add([]engine.Bundle{bundleOf(0, 5, 10)})
	if r.s.caughtUp() {
		t.Fatal("partition 1 has not passed 10: the write must wait for it")
	}
	r.s.add([]engine.Bundle{bundleOf(1, 5, 10)})
	r.delivers(t, 2, "second write") // 1 if partition 0's went alone
	// A lost partition is not waited for; a partition that lags is, until
	// the period passes.
	r.s.forget(engine.Position{Topic: "rides", Partition: 1}.Key())
	r.s.add([]engine.Bundle{bundleOf(0, 10, 15)})
	r.delivers(t, 1, "write after partition 1 was lost")
	r.s.add([]engine.Bundle{bundleOf(2, 0, 5)}) // partition 2 lags partition 0 (at 15)
	r.s.add([]engine.Bundle{bundleOf(0, 15, 20)})
	r.tick <- time.Time{} // the period passed
	r.delivers(t, 2, "write after the period")
}

// A partition that went idle is not waited for: the others' window ends
// are written at once, not after the period (an hour here), and the windows
// its going idle flushed do not set the end the others must pass.
func TestBundleSenderDoesNotWaitForAnIdlePartition(t *testing.T) {
	r := newSenderRig(t, time.Hour, 100)
	r.s.add([]engine.Bundle{bundleOf(0, 0, 5), bundleOf(1, 0, 5)})
	r.delivers(t, 2, "first write")
	idle := bundleOf(1, 5, 15) // its open windows, flushed as it went idle
	idle.Source.Idle = true
	r.s.add([]engine.Bundle{idle})
	r.delivers(t, 1, "the idle flush's write")
	r.s.add([]engine.Bundle{bundleOf(0, 5, 10)})
	r.delivers(t, 1, "write after partition 1 went idle")
	// Back from idleness, it is waited for again, and waits for the other.
	r.s.add([]engine.Bundle{bundleOf(1, 15, 20)})
	if r.s.caughtUp() {
		t.Fatal("partition 0 has not passed 20: the write must wait for it")
	}
	r.s.add([]engine.Bundle{bundleOf(0, 10, 20)})
	r.delivers(t, 2, "write after partition 1 came back")
}

// A failed write is retried whole, and delivery is reported once, after
// the write that succeeded.
func TestBundleSenderRetriesAFailedWrite(t *testing.T) {
	r := newSenderRig(t, 0, 100)
	var mu sync.Mutex
	failures := 2
	r.fail = func() error {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return errors.New("internal topic down")
		}
		return nil
	}
	go func() { // the backoffs
		for i := 0; i < 2; i++ {
			r.tick <- time.Time{}
		}
	}()
	r.s.add([]engine.Bundle{bundleOf(0, 0, 5), bundleOf(1, 0, 5)})
	if b := r.nextWrite(t); len(b) != 2 {
		t.Fatalf("the retried write has %d bundles, want 2", len(b))
	}
	if d := <-r.delivered; len(d) != 2 {
		t.Fatalf("delivered %d bundles, want 2", len(d))
	}
	select {
	case d := <-r.delivered:
		t.Fatalf("delivery reported twice: %v", d)
	default:
	}
}

// While max_pending bundles are unwritten a batch waits (the input stops
// reading); it goes on once they are written, or fails with its context.
func TestBundleSenderHoldsBatchesWhileTooManyAreUnwritten(t *testing.T) {
	r := newSenderRig(t, 0, 2)
	r.s.add([]engine.Bundle{bundleOf(0, 0, 5), bundleOf(1, 0, 5)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.s.waitRoom(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("waitRoom with 2 of 2 unwritten returned %v, want the context's error", err)
	}
	done := make(chan error, 1)
	go func() { done <- r.s.waitRoom(t.Context()) }()
	r.nextWrite(t)
	<-r.delivered
	if err := <-done; err != nil {
		t.Fatalf("waitRoom after the write: %v", err)
	}
}

// Close writes what is queued, and is idempotent, also before start.
func TestBundleSenderCloseIsIdempotent(t *testing.T) {
	res := service.MockResources()
	s := newBundleSender(func(context.Context, service.MessageBatch) error { return nil }, func([]engine.Bundle) {}, 0, 1, res.Logger(), newMetrics(res.Metrics()))
	s.Close(t.Context())
	s.Close(t.Context())
	r := newSenderRig(t, 0, 1)
	r.s.add([]engine.Bundle{bundleOf(0, 0, 5)})
	r.s.Close(t.Context())
	r.s.Close(t.Context())
	if len(r.writes) != 1 {
		t.Fatalf("Close left %d writes, want the queued bundle written", len(r.writes))
	}
	if err := r.s.waitRoom(t.Context()); err != nil && !errors.Is(err, errSenderClosed) {
		t.Fatalf("waitRoom after Close: %v", err)
	}
}

// withSender gives a stage local processor a sender whose writes go to
// write (as bundles.output does with an output resource); the channel
// says when a delivery was recorded.
func withSender(t *testing.T, p *localProcessor, write func(context.Context, service.MessageBatch) error) <-chan struct{} {
	t.Helper()
	if p.unregisterAcked != nil { // acknowledgements say nothing of bundles written apart
		p.unregisterAcked()
		p.unregisterAcked = nil
	}
	recorded := make(chan struct{}, 64)
	p.sender = newBundleSender(write, func(bs []engine.Bundle) { p.deliveredBundles(bs); recorded <- struct{}{} }, 0, 100, p.log, p.m)
	p.sender.start()
	return recorded
}

// Bundles whose write failed are in the state written before the offsets
// commit: the process that loads it sends them again, and once its own
// writer delivered them, the state it writes no longer holds them.
func TestStageLocalSendsAgainTheBundlesItsPredecessorCouldNotWrite(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a, b, c := newLocal(t, res), newLocal(t, res), newLocal(t, res)
	failed := make(chan int, 64)
	withSender(t, a, func(ctx context.Context, batch service.MessageBatch) error {
		select {
		case failed <- len(batch):
		default:
		}
		return errors.New("internal topic down")
	})
	written := make(chan []string, 64)
	record := func(_ context.Context, batch service.MessageBatch) error {
		var bodies []string
		for _, m := range batch {
			body, _ := m.AsBytes()
			bodies = append(bodies, string(body))
		}
		written <- bodies
		return nil
	}
	bDelivered := withSender(t, b, record)
	withSender(t, c, record)
	if out := processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1), localMsg("2026-03-14T10:30:00Z", 0, 1, 1, 5, -1)); len(out) != 0 {
		t.Fatalf("stage local passed on %d messages with a sender", len(out))
	}
	<-failed // a tried
	a.noteCommitting("rides", 0, 2, -1)
	if err := a.flushLocal(t.Context()); err != nil {
		t.Fatal(err)
	}
	// b takes partition 0 over at the group's commit (2), with a record
	// that closes no new window: all it writes is what a could not.
	processStage(t, b, localMsg("2026-03-14T10:30:00Z", 0, 2, 2, 6, 2))
	var resent []string
	select {
	case resent = <-written:
	case <-time.After(30 * time.Second):
		t.Fatal("b sent nothing again")
	}
	var partials int
	for _, body := range resent {
		bd, err := engine.DecodeBundle([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		partials += len(bd.Partials)
	}
	if partials == 0 {
		t.Fatalf("b sent %d bundles again without the partials of window [10:00,10:05)", len(resent))
	}
	<-bDelivered
	b.noteCommitting("rides", 0, 3, -1)
	if err := b.flushLocal(t.Context()); err != nil {
		t.Fatal(err)
	}
	processStage(t, c, localMsg("2026-03-14T10:30:00Z", 0, 3, 3, 7, 3))
	select {
	case again := <-written:
		t.Fatalf("c sent %d delivered bundles again", len(again))
	default:
	}
}

// noticeMsg is kafka_franz's notice (kind noticeEmpty or noticeCaughtUp)
// of source partition part (of 2), read in assignment epoch epoch at
// generation gen after the group had committed offset start: the only
// message the new owner of a partition with nothing more to read gets.
func noticeMsg(kind string, part, epoch, gen, start int) *service.Message {
	m := service.NewMessage(nil)
	m.MetaSetMut(noticeMeta, kind)
	m.MetaSetMut("kafka_topic", "rides")
	m.MetaSetMut("kafka_partition", part)
	if kind == noticeEmpty {
		m.MetaSetMut(emptyPartitionsMeta, []any{part})
	}
	m.MetaSetMut(partitionsMeta, 2)
	m.MetaSetMut(epochMeta, epoch)
	m.MetaSetMut(generationMeta, gen)
	m.MetaSetMut(startMeta, start)
	m.MetaSetMut(commitMeta, commitProgress)
	return m
}

// A process that dies with bundles unwritten, after its offsets committed
// past their records, leaves its successor nothing to read: the
// successor's first word of the partition is a notice, caught-up at once
// (caught_up_notices) or empty-partition after its delay. It loads the
// state then, sends the bundles again, and does not announce the partition
// empty (stage 2 would close the windows without them).
func TestStageLocalSendsAgainOnANoticeTheBundlesItsPredecessorCouldNotWrite(t *testing.T) {
	for _, kind := range []string{noticeCaughtUp, noticeEmpty} {
		t.Run(kind, func(t *testing.T) {
			res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
			idle := func() *localProcessor {
				p, err := newLocalProcessor(parseConfig(t, strings.Replace(ridesYAML, "  delay: 10m\n", "  delay: 10m\n  idle_timeout: 5m\n", 1)+"stage: local\n", res), res, newClock().now)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = p.Close(context.Background()) })
				return p
			}
			a, b := idle(), idle()
			withSender(t, a, func(context.Context, service.MessageBatch) error { return errors.New("internal topic down") })
			written := make(chan []engine.Bundle, 64)
			withSender(t, b, func(_ context.Context, batch service.MessageBatch) error {
				var bs []engine.Bundle
				for _, m := range batch {
					body, _ := m.AsBytes()
					bd, err := engine.DecodeBundle(body)
					if err != nil {
						return err
					}
					bs = append(bs, *bd)
				}
				written <- bs
				return nil
			})
			processStage(t, a, localMsg("2026-03-14T10:01:00Z", 0, 0, 1, 5, -1), localMsg("2026-03-14T10:30:00Z", 0, 1, 1, 5, -1))
			a.noteCommitting("rides", 0, 2, -1)
			if err := a.flushLocal(t.Context()); err != nil {
				t.Fatal(err)
			}
			// a is SIGKILLed; b owns partition 0 from the group's commit
			// (2), the end of the partition.
			processStage(t, b, noticeMsg(kind, 0, 2, 6, 2))
			var got []engine.Bundle
			select {
			case got = <-written:
			case <-time.After(10 * time.Second):
				t.Fatal("b sent nothing on the notice: the bundles a could not write wait for a record that may never come")
			}
			var partials int
			for _, bd := range got {
				if bd.Source.Empty {
					t.Fatalf("b announced partition 0 empty although its state holds progress: %+v", bd)
				}
				partials += len(bd.Partials)
			}
			if partials == 0 {
				t.Fatalf("b sent %d bundles again without the partials of window [10:00,10:05)", len(got))
			}
		})
	}
}
