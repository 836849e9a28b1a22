package window

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// fakePending is the error of a changelog cache whose newest value of a key
// may be committed behind an open transaction (franz.PendingError).
type fakePending struct{ value []byte }

func (e fakePending) Error() string                { return "pending behind an open transaction" }
func (e fakePending) PendingValue() ([]byte, bool) { return e.value, e.value != nil }

// pendingReads makes *read answer, while pending() holds, with the value it
// would give wrapped in a fakePending error.
func pendingReads(read *func(context.Context, string) ([]byte, error), pending func() bool) {
	next := *read
	*read = func(ctx context.Context, key string) ([]byte, error) {
		v, err := next(ctx, key)
		if err != nil || !pending() {
			return v, err
		}
		return nil, fakePending{v}
	}
}

// A replica killed with its transaction open holds the state partition's
// last stable offset until the broker aborts it; the next owner's newer
// state lies behind it (docs/scale-out.md, "Changelog read-back"). A state
// behind the resume offset while a newer one is pending is read until the
// pending ends, past the changelogTries bound (which gave up after 2 s and
// went on from the stale state: 18 rows lost on a real broker); a state
// that is current is taken at once, pending or not.
func TestStagePartialWaitsBehindAPendingStateOnly(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	at := func(ts string) int64 { tm, _ := time.Parse(time.RFC3339, ts); return tm.UnixMilli() }
	set := func(mk engine.Marker) {
		t.Helper()
		b, _ := engine.EncodeMarker(&mk)
		setCache(t, res, "0", b)
	}
	set(engine.Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: at("2026-03-14T00:30:00Z"), Offset: 4})
	pending := true
	pendingReads(&p.readState, func() bool { return pending })
	waits := 0
	p.waitChangelog = func(context.Context) error {
		if waits++; waits == 3*changelogTries { // the killed replica's transaction ends
			set(engine.Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: at("2026-03-14T01:00:00Z"), Offset: 9})
			pending = false
		}
		return nil
	}
	// 00:40 is late against 01:00 − 10m, on time against 00:30 − 10m.
	got, markers := kinds(t, processStage(t, p, stageMsg("2026-03-14T00:40:00Z", 0, 10, 1)))
	if strings.Join(got, ",") != "marker q=0,marker q=1,changelog 0" || markers[0].MaxMs != at("2026-03-14T01:00:00Z") || waits != 3*changelogTries {
		t.Fatalf("stage 1 emitted %v %+v after %d waits: it went on with the state from before the pending one", got, markers, waits)
	}

	// Current (it has applied offset 9, the one before the resume offset):
	// taken at the first read, though something is pending behind it.
	pending, waits = true, 0
	p.waitChangelog = func(context.Context) error {
		if waits++; waits > 5 {
			return errors.New("still waiting")
		}
		return nil
	}
	if got, _ := kinds(t, processStage(t, p, stageMsg("2026-03-14T00:40:00Z", 0, 10, 2))); strings.Join(got, ",") != "marker q=0,marker q=1,changelog 0" || waits != 0 {
		t.Fatalf("a current state with a pending one behind it gave %v after %d waits, want it taken at once", got, waits)
	}
}

// Stage merge reads q's state the same way: it waits while the state is
// behind and a newer one pending, and takes a current one at once.
func TestStageMergeWaitsBehindAPendingStateOnly(t *testing.T) {
	internal, res, _, s6 := staleMergeState(t)

	b := newChangelogMerge(t, res)
	pending := true
	pendingReads(&b.readState, func() bool { return pending })
	waits := 0
	b.waitChangelog = func(context.Context) error {
		if waits++; waits == 3*changelogTries {
			setCache(t, res, "rides_agg-0", s6["rides_agg-0"]) // offsets 0..5
			pending = false
		}
		return nil
	}
	for _, m := range internal[6:] {
		m.MetaSetMut(epochMeta, 2)
	}
	rows, _ := splitMerge(t, processStage(t, b, internal[6:]...))
	if got := b.parts[0].eng.Seq(); got != 3 || waits != 3*changelogTries {
		t.Fatalf("after %d waits the new owner is at sequence %d (rows %v), want 3 after %d: it went on with the stale state", waits, got, rows, 3*changelogTries)
	}

	// Current: taken at once, pending or not.
	c := newChangelogMerge(t, res)
	pendingReads(&c.readState, func() bool { return true })
	setCache(t, res, "rides_agg-0", s6["rides_agg-0"])
	waits = 0
	c.waitChangelog = func(context.Context) error {
		if waits++; waits > 5 {
			return errors.New("still waiting")
		}
		return nil
	}
	for _, m := range internal[6:] {
		m.MetaSetMut(epochMeta, 3)
	}
	processStage(t, c, internal[6:]...)
	if got := c.parts[0].eng.Seq(); got != 3 || waits != 0 {
		t.Fatalf("a current state with a pending one behind it: sequence %d after %d waits, want 3 at once", got, waits)
	}
}
