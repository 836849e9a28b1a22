package window

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// newChangelogMerge is the rides window in stage merge, its state in a
// changelog.
func newChangelogMerge(t *testing.T, res *service.Resources) *mergeProcessor {
	t.Helper()
	return newMergeFromYAML(t, ridesYAML, res)
}

// internalRecords runs stage 1 on one source partition over rides at
// timestamps and returns the internal-topic records for q = 0, offsets
// from 0, read in epoch 1.
func internalRecords(t *testing.T, timestamps ...string) []*service.Message {
	t.Helper()
	return internalRecordsOf(t, ridesYAML, timestamps...)
}

// internalRecordsOf is internalRecords with stage 1 configured by yaml.
func internalRecordsOf(t *testing.T, yaml string, timestamps ...string) []*service.Message {
	t.Helper()
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	st1, err := newPartialProcessor(parseConfig(t, yaml+"stage: partial\n", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	var internal []*service.Message
	for i, ts := range timestamps {
		m := stageMsg(ts, 0, i, 1)
		m.MetaSetMut(partitionsMeta, 1)
		for _, o := range processStage(t, st1, m) {
			if _, ok := o.MetaGet(changelogKeyMeta); ok {
				continue
			}
			kind, _ := o.MetaGet(kindMeta)
			body, _ := o.AsBytes()
			internal = append(internal, internalMsg(t, kind, body, 0, len(internal), 1))
		}
	}
	return internal
}

// splitMerge separates a stage-2 output into its rows ("q/seq@start") and
// its state messages (key → body).
func splitMerge(t *testing.T, out service.MessageBatch) (rows []string, states map[string][]byte) {
	t.Helper()
	states = map[string][]byte{}
	for _, m := range out {
		if kind, _ := m.MetaGet(kindMeta); kind == kindState {
			key, ok := m.MetaGet(changelogKeyMeta)
			if !ok {
				t.Fatalf("a state message without %s", changelogKeyMeta)
			}
			body, _ := m.AsBytes()
			states[key] = body
			continue
		}
		q, _ := m.MetaGet(statePartitionMeta)
		seq, _ := m.MetaGet("window_emit_seq")
		start, _ := m.MetaGet("window_start_ms")
		rows = append(rows, q+"/"+seq+"@"+start)
	}
	return rows, states
}

func setCache(t *testing.T, res *service.Resources, key string, data []byte) {
	t.Helper()
	var setErr error
	if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) { setErr = c.Set(context.Background(), key, data, nil) }); err != nil || setErr != nil {
		t.Fatal(err, setErr)
	}
}

func cacheHas(t *testing.T, res *service.Resources, key string) bool {
	t.Helper()
	var getErr error
	if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) { _, getErr = c.Get(context.Background(), key) }); err != nil {
		t.Fatal(err)
	}
	return getErr == nil
}

// With state.changelog, q's state leaves with the batch as a message keyed
// <state.key>-<q> (for the changelog, in the input's transaction) and is
// never written to the cache; the next owner of q reads it back from the
// cache (the changelog) and goes on from it. A state message that never
// committed (a fenced zombie's) is simply not in the changelog: the next
// owner goes on from the last committed one.
func TestStageMergeChangelogStateLeavesAsAMessage(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z")
	// internal: [partial w0, marker@00:01, partial w1, marker@00:06, partial w6, marker@00:30, partial w10, marker@00:50]
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newChangelogMerge(t, res)
	rows, states := splitMerge(t, processStage(t, a, internal[:4]...))
	if len(rows) != 0 || len(states) != 1 || states["rides_agg-0"] == nil {
		t.Fatalf("first batch: rows %v, states %v", rows, states)
	}
	if cacheHas(t, res, "rides_agg-0") {
		t.Fatal("stage merge with state.changelog wrote its state to the cache")
	}
	committed := states["rides_agg-0"] // a's transaction commits: the changelog holds it
	setCache(t, res, "rides_agg-0", committed)

	// a is paused past its session timeout; b takes q = 0 (epoch 2), merges
	// up to 00:30 and commits.
	b := newChangelogMerge(t, res)
	for _, m := range internal[4:6] {
		m.MetaSetMut(epochMeta, 2)
	}
	w0, w1 := "1773446400000", "1773446700000"
	rows, states = splitMerge(t, processStage(t, b, internal[4:6]...))
	if strings.Join(rows, ",") != "0/1@"+w0+",0/2@"+w1 || states["rides_agg-0"] == nil {
		t.Fatalf("the new owner emitted %v (did it load the committed state?)", rows)
	}
	setCache(t, res, "rides_agg-0", states["rides_agg-0"])

	// a wakes up and processes the same records with its old epoch: its
	// state message is produced in a fenced transaction, which never
	// commits, so the changelog keeps b's state.
	var zombie []*service.Message
	for _, m := range internal[4:6] {
		z := m.Copy()
		z.MetaSetMut(epochMeta, 1)
		zombie = append(zombie, z)
	}
	if _, zs := splitMerge(t, processStage(t, a, zombie...)); zs["rides_agg-0"] == nil {
		t.Fatal("the zombie emitted no state")
	}
	// c owns q next (epoch 3): it goes on from b's state, with sequence 3.
	c := newChangelogMerge(t, res)
	for _, m := range internal[6:] {
		m.MetaSetMut(epochMeta, 3)
	}
	rows, _ = splitMerge(t, processStage(t, c, internal[6:]...))
	if !strings.HasSuffix(strings.Join(rows, ","), ",0/3@1773448200000") {
		t.Fatalf("the next owner emitted %v", rows)
	}
	if got := c.parts[0].eng.Seq(); got != 3 {
		t.Fatalf("the next owner is at sequence %d, want 3", got)
	}
}

// staleMergeState runs internal partition 0's first six records through a
// merge and returns them, and a cache holding q=0's state as of its first
// four (stale), with the states after four (s4) and after six (s6).
func staleMergeState(t *testing.T) (internal []*service.Message, res *service.Resources, s4, s6 map[string][]byte) {
	t.Helper()
	internal = internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z")
	res = service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newChangelogMerge(t, res)
	_, s4 = splitMerge(t, processStage(t, a, internal[:4]...))
	_, s6 = splitMerge(t, processStage(t, a, internal[4:6]...))
	setCache(t, res, "rides_agg-0", s4["rides_agg-0"]) // stale: offsets 0..3
	return internal, res, s4, s6
}

// q moves right after its previous owner's last commit, whose state the
// changelog does not show yet: stage 2 reads it again until the state's
// applied offsets reach the record before the first one delivered, and
// gives up after changelogTries reads when it never does.
func TestStageMergeChangelogWaitsForTheChangelogToCatchUp(t *testing.T) {
	internal, res, s4, s6 := staleMergeState(t)

	b := newChangelogMerge(t, res)
	reads := 0
	b.waitChangelog = func(context.Context) error {
		if reads++; reads == 2 {
			setCache(t, res, "rides_agg-0", s6["rides_agg-0"]) // offsets 0..5
		}
		return nil
	}
	for _, m := range internal[6:] {
		m.MetaSetMut(epochMeta, 2)
	}
	rows, states := splitMerge(t, processStage(t, b, internal[6:]...))
	if got := b.parts[0].eng.Seq(); got != 3 || reads != 2 {
		t.Fatalf("after %d waits the new owner is at sequence %d (rows %v), want 3 after 2: it went on with the stale state", reads, got, rows)
	}
	if seq, err := engine.StateSeq(states["rides_agg-0"]); err != nil || seq != 3 {
		t.Fatalf("state message: seq %d, %v", seq, err)
	}

	// A changelog that never catches up: read changelogTries times, then
	// the state it has is used.
	setCache(t, res, "rides_agg-0", s4["rides_agg-0"])
	c := newChangelogMerge(t, res)
	reads = 0
	c.waitChangelog = func(context.Context) error { reads++; return nil }
	for _, m := range internal[6:] {
		m.MetaSetMut(epochMeta, 3)
	}
	processStage(t, c, internal[6:]...)
	if reads != changelogTries-1 {
		t.Fatalf("%d waits for a changelog that never catches up, want %d", reads, changelogTries-1)
	}
}

// state.changelog belongs to stage merge: elsewhere it is refused, by the
// constructor and by the linter, naming the field.
func TestStateChangelogOnlyWithStageMerge(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	withChangelog := strings.Replace(ridesYAML, "  key: rides_agg\n", "  key: rides_agg\n  changelog: true\n", 1)
	for _, stage := range []string{"full", "partial"} {
		yaml := withChangelog + "stage: " + stage + "\n"
		conf, err := spec().ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fromParsed(conf, res); err == nil || !strings.Contains(err.Error(), "state.changelog") {
			t.Errorf("stage %s: config refused with %v, want mention of state.changelog", stage, err)
		}
		b := service.NewStreamBuilder()
		indented := "tumbling_window:\n  " + strings.ReplaceAll(strings.TrimSpace(yaml), "\n", "\n  ")
		if err := b.AddProcessorYAML(indented); err == nil || !strings.Contains(err.Error(), "state.changelog") {
			t.Errorf("stage %s: lint %v, want mention of state.changelog", stage, err)
		}
	}
}

// A failed read of q's state (the changelog topic not there yet, the broker
// away) is retried, as stage 1's is: failing the batch would turn the
// internal records into dead letters whose offsets the transaction commits.
func TestStageMergeRetriesAFailedStateRead(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	want, _ := splitMerge(t, processStage(t, newChangelogMerge(t, res), internal...))
	if len(want) == 0 {
		t.Fatal("the reference run emitted no row")
	}

	p := newChangelogMerge(t, res)
	fails, waits := failStateReads(&p.readState, &p.waitChangelog, 3)
	out := processStage(t, p, internal...)
	for _, m := range out {
		if m.GetError() != nil {
			t.Fatalf("a failed state read failed the batch: %v", m.GetError())
		}
	}
	if got, _ := splitMerge(t, out); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after three failed reads stage 2 emitted %v, want %v", got, want)
	}
	if *fails != 0 || *waits != 3 {
		t.Fatalf("%d reads left to fail, %d waits; want 0 and 3", *fails, *waits)
	}

	// Shutting down ends the retries with an error (the batch is not acked).
	p2 := newChangelogMerge(t, res)
	p2.readState = func(context.Context, string) ([]byte, error) { return nil, errors.New("broker away") }
	p2.waitChangelog = func(context.Context) error { return context.Canceled }
	if _, err := p2.ProcessBatch(context.Background(), service.MessageBatch(internal)); !errors.Is(err, context.Canceled) {
		t.Fatalf("retries on a closed context ended with %v", err)
	}
}

// A batch that leaves q's state as it was (records read again, twice) sends
// no state message: the last one written is remembered by its digest.
func TestStageMergeDoesNotResendAnUnchangedState(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newChangelogMerge(t, res)
	_, first := splitMerge(t, processStage(t, a, internal[:4]...))
	if first["rides_agg-0"] == nil {
		t.Fatalf("first batch: no state, %v", first)
	}
	// The first replay moves the watermark's lateness bound up to the
	// current watermark (a change); the second changes nothing.
	again := func() []*service.Message {
		var out []*service.Message
		for _, m := range internal[:4] {
			out = append(out, m.Copy())
		}
		return out
	}
	_, after := splitMerge(t, processStage(t, a, again()...))
	if rows, states := splitMerge(t, processStage(t, a, again()...)); len(rows) != 0 || len(states) != 0 {
		t.Fatalf("the same records again: rows %v, state\n%s\nafter\n%s", rows, states["rides_agg-0"], after["rides_agg-0"])
	}
	if _, states := splitMerge(t, processStage(t, a, internal[4:6]...)); states["rides_agg-0"] == nil {
		t.Fatalf("new records: no state, %v", states)
	}
}

// pendingSeqs is the emission sequences a stage-merge state retains.
func pendingSeqs(t *testing.T, state []byte) []int64 {
	t.Helper()
	js, err := engine.StateJSON(state)
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ Pending []struct{ Seq int64 } }
	if err := json.Unmarshal(js, &s); err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, em := range s.Pending {
		seqs = append(seqs, em.Seq)
	}
	return seqs
}

// Once the transactional input has committed an internal partition's
// offsets past the records that triggered an emission (reported through
// commitbarrier.OnAcked, as the kafka_franz consumer does after each
// committed transaction), q's next state no longer retains it: its rows
// are in the table, and no redelivery can come from below a committed
// offset. Before the report it is retained.
func TestStageMergeForgetsEmissionsOfCommittedOffsets(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z", "2026-03-14T01:10:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newChangelogMerge(t, res)
	defer a.Close(context.Background())
	processStage(t, a, internal[:4]...)
	// Offsets 4 and 5 close two windows: one emission (sequence 2, its rows 1 and 2).
	rows, states := splitMerge(t, processStage(t, a, internal[4:6]...))
	if got := pendingSeqs(t, states["rides_agg-0"]); len(rows) != 2 || !slices.Equal(got, []int64{2}) {
		t.Fatalf("rows %v, retained %v: want the emission of offsets 4..5 retained", rows, got)
	}
	// Not yet committed past them: retained after the next batch too.
	_, states = splitMerge(t, processStage(t, a, internal[6]))
	if got := pendingSeqs(t, states["rides_agg-0"]); !slices.Contains(got, 2) {
		t.Fatalf("retained %v before any commit, want 2 kept", got)
	}
	// A transaction committed offsets 0..4 (next 5): offset 5 is not in.
	commitbarrier.Process.Acked("rides_agg-repartition", 0, 5)
	_, states = splitMerge(t, processStage(t, a, internal[7]))
	if got := pendingSeqs(t, states["rides_agg-0"]); !slices.Contains(got, 2) {
		t.Fatalf("retained %v after a commit below its records, want 2 kept", got)
	}
	// Then 0..7 (next 8).
	commitbarrier.Process.Acked("rides_agg-repartition", 0, 8)
	if len(internal) < 9 {
		t.Fatalf("%d internal records, want a ninth", len(internal))
	}
	_, states = splitMerge(t, processStage(t, a, internal[8:]...))
	if got := pendingSeqs(t, states["rides_agg-0"]); slices.Contains(got, 2) {
		t.Fatalf("retained %v after offsets 0..7 committed, want 2 forgotten", got)
	}
}
