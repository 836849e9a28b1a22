package window

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

func stageConfig(t *testing.T, stage string, res *service.Resources) *procConfig {
	t.Helper()
	return parseConfig(t, ridesYAML+"stage: "+stage+"\n", res)
}

// stageMsg is a ride of source partition part (of 2) at offset off, read in
// assignment epoch epoch.
func stageMsg(ts string, part, off, epoch int) *service.Message {
	m := msg("FR", ts, 2, 3, part, off)
	m.MetaSetMut(partitionsMeta, 2)
	m.MetaSetMut(epochMeta, epoch)
	return m
}

func processStage(t *testing.T, p service.BatchProcessor, batch ...*service.Message) service.MessageBatch {
	t.Helper()
	out, err := p.ProcessBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	var all service.MessageBatch
	for _, b := range out {
		all = append(all, b...)
	}
	return all
}

// kinds sums up a stage-1 output: "partial", "marker q=<n>", "changelog <k>".
func kinds(t *testing.T, out service.MessageBatch) (got []string, markers []*engine.Marker) {
	t.Helper()
	for _, m := range out {
		if m.GetError() != nil {
			got = append(got, "errored")
			continue
		}
		kind, _ := m.MetaGet(kindMeta)
		body, _ := m.AsBytes()
		switch kind {
		case kindPartial:
			got = append(got, "partial")
		case kindMarker:
			mk, err := engine.DecodeMarker(body)
			if err != nil {
				t.Fatal(err)
			}
			if k, ok := m.MetaGet(changelogKeyMeta); ok {
				got = append(got, "changelog "+k)
				markers = append(markers, mk)
				continue
			}
			q, _ := m.MetaGet(markerPartMeta)
			got = append(got, "marker q="+q)
		default:
			t.Fatalf("unexpected output %s", body)
		}
	}
	return got, markers
}

func TestStagePartialReloadsAPartitionWhenItsEpochChanges(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	out := processStage(t, p, stageMsg("2026-03-14T00:30:00Z", 0, 0, 1), stageMsg("2026-03-14T00:31:00Z", 0, 1, 1))
	got, markers := kinds(t, out)
	if strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 0" {
		t.Fatalf("stage 1 emitted %v", got)
	}
	if markers[0].Offset != 1 || markers[0].Partitions != 2 {
		t.Fatalf("marker %+v", markers[0])
	}
	// The transaction holding offset 1 aborted: the changelog has the state
	// as of offset 0 and the input rewinds to offset 1 in a new epoch.
	asOf0 := engine.Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: time.Date(2026, 3, 14, 0, 30, 0, 0, time.UTC).UnixMilli(), Offset: 0}
	b, _ := engine.EncodeMarker(&asOf0)
	var setErr error
	if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) { setErr = c.Set(context.Background(), "0", b, nil) }); err != nil || setErr != nil {
		t.Fatal(err, setErr)
	}
	// In the old epoch, offset 1 would be a replay of what the state holds.
	if got, _ := kinds(t, processStage(t, p, stageMsg("2026-03-14T00:31:00Z", 0, 1, 1))); len(got) != 0 {
		t.Fatalf("a replay in the same epoch emitted %v", got)
	}
	out = processStage(t, p, stageMsg("2026-03-14T00:31:00Z", 0, 1, 2))
	if got, markers = kinds(t, out); strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 0" || markers[0].Offset != 1 {
		t.Fatalf("after the rewind stage 1 emitted %v %+v: the changelog state was not reloaded", got, markers)
	}
	// Lateness continues against the reloaded progress (00:31 − 10m).
	if got, _ = kinds(t, processStage(t, p, stageMsg("2026-03-14T00:05:00Z", 0, 2, 2))); strings.Join(got, ",") != "marker q=0,marker q=1,changelog 0" {
		t.Fatalf("a late row gave %v", got)
	}
	// A row without the partition count cannot be sent to every internal
	// partition: a dead letter, whose offset the changelog copy covers.
	m := msg("FR", "2026-03-14T00:32:00Z", 1, 1, 1, 0)
	if got, _ = kinds(t, processStage(t, p, m)); strings.Join(got, ",") != "errored,changelog 1" {
		t.Fatalf("a row without kafka_topic_partitions gave %v", got)
	}
}

// internalMsg is a record of internal partition q at offset off.
func internalMsg(t *testing.T, kind string, body []byte, q, off, epoch int) *service.Message {
	t.Helper()
	m := service.NewMessage(body)
	m.MetaSetMut(kindMeta, kind)
	m.MetaSetMut("kafka_topic", "rides_agg-repartition")
	m.MetaSetMut("kafka_partition", q)
	m.MetaSetMut("kafka_offset", off)
	m.MetaSetMut(epochMeta, epoch)
	return m
}

func TestStageMergeStateMovesWithItsPartition(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	st1, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	// Stage 1 on a one-partition topic: two windows of FR, then progress.
	one := func(ts string, off int) *service.Message {
		m := stageMsg(ts, 0, off, 1)
		m.MetaSetMut(partitionsMeta, 1)
		return m
	}
	var internal []*service.Message
	for i, ts := range []string{"2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z"} {
		for _, m := range processStage(t, st1, one(ts, i)) {
			if _, ok := m.MetaGet(changelogKeyMeta); ok {
				continue
			}
			kind, _ := m.MetaGet(kindMeta)
			body, _ := m.AsBytes()
			internal = append(internal, internalMsg(t, kind, body, 0, len(internal), 1))
		}
	}
	// internal: [partial w0, marker@00:01, partial w1, marker@00:06, partial w3, marker@00:30]
	a, err := newMergeProcessor(stageConfig(t, "merge", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	rows := func(out service.MessageBatch) (got []string) {
		for _, m := range out {
			q, _ := m.MetaGet(statePartitionMeta)
			seq, _ := m.MetaGet("window_emit_seq")
			start, _ := m.MetaGet("window_start_ms")
			got = append(got, q+"/"+seq+"@"+start)
		}
		return got
	}
	if got := rows(processStage(t, a, internal[:4]...)); len(got) != 0 {
		t.Fatalf("emitted %v before the watermark passed", got)
	}
	// The marker at 00:30 closes windows 00:00 and 00:05 (watermark 00:20):
	// one sequence each.
	w0, w1 := "1773446400000", "1773446700000"
	if got := rows(processStage(t, a, internal[4:6]...)); strings.Join(got, ",") != "0/1@"+w0+",0/2@"+w1 {
		t.Fatalf("emitted %v", got)
	}
	// Redelivered (offsets committed after the sink): the same sequences again.
	if got := rows(processStage(t, a, internal[5])); strings.Join(got, ",") != "0/1@"+w0+",0/2@"+w1 {
		t.Fatalf("a redelivery re-emitted %v", got)
	}
	// Another replica takes internal partition 0 (epoch 2): it loads a's
	// state from <key>-0, re-emits what a may not have delivered, and goes
	// on with sequence 3.
	b, err := newMergeProcessor(stageConfig(t, "merge", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range processStage(t, st1, one("2026-03-14T00:50:00Z", 3)) {
		if _, ok := m.MetaGet(changelogKeyMeta); ok {
			continue
		}
		kind, _ := m.MetaGet(kindMeta)
		body, _ := m.AsBytes()
		internal = append(internal, internalMsg(t, kind, body, 0, len(internal), 2))
	}
	if got := rows(processStage(t, b, internal[6:]...)); strings.Join(got, ",") != "0/1@"+w0+",0/2@"+w1+",0/3@1773448200000" {
		t.Fatalf("the new owner emitted %v (its state did not come from the old owner's checkpoint?)", got)
	}
	// The partition comes back to a (epoch 3): a must reload b's state, or
	// it would not know the window b merged (00:50) and emit nothing.
	for _, m := range processStage(t, st1, one("2026-03-14T01:05:00Z", 4)) {
		if _, ok := m.MetaGet(changelogKeyMeta); ok {
			continue
		}
		kind, _ := m.MetaGet(kindMeta)
		body, _ := m.AsBytes()
		internal = append(internal, internalMsg(t, kind, body, 0, len(internal), 3))
	}
	if got := rows(processStage(t, a, internal[8:]...)); !strings.HasSuffix(strings.Join(got, ","), ",0/4@1773449400000") {
		t.Fatalf("back on the first replica: %v", got)
	}
	// A record that is not from stage 1 is refused, naming the metadata.
	bad := internalMsg(t, "", []byte(`{}`), 0, 99, 2)
	out := processStage(t, b, bad)
	if len(out) != 1 || out[0].GetError() == nil || !strings.Contains(out[0].GetError().Error(), kindMeta) {
		t.Fatalf("a foreign record gave %v", out)
	}
}

func TestStagesNeedTheirConfig(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	for yaml, want := range map[string]string{
		strings.Replace(ridesYAML, "  cache: window_state\n", "", 1) + "stage: partial\n":                    "state.cache is required",
		strings.Replace(ridesYAML, "  delay: 10m\n", "  delay: 10m\n  mode: global\n", 1) + "stage: merge\n": "per_partition",
	} {
		conf, err := spec().ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fromParsed(conf, res); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config refused with %v, want mention of %q", err, want)
		}
		b := service.NewStreamBuilder()
		indented := "tumbling_window:\n  " + strings.ReplaceAll(strings.TrimSpace(yaml), "\n", "\n  ")
		if err := b.AddProcessorYAML(indented); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("lint: %v, want mention of %q", err, want)
		}
	}
}

// A partition moves to this process right after its previous owner's last
// commit, whose changelog copy the cache does not show yet: stage 1 reads
// the changelog again until the state reaches the record before the first
// one delivered, and judges lateness against that state, not the older one.
func TestStagePartialWaitsForTheChangelogToCatchUp(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	set := func(mk engine.Marker) {
		t.Helper()
		b, _ := engine.EncodeMarker(&mk)
		var setErr error
		if err := res.AccessCache(context.Background(), "window_state", func(c service.Cache) { setErr = c.Set(context.Background(), "0", b, nil) }); err != nil || setErr != nil {
			t.Fatal(err, setErr)
		}
	}
	at := func(ts string) int64 { tm, _ := time.Parse(time.RFC3339, ts); return tm.UnixMilli() }
	// The changelog still shows the previous owner's state as of offset 4;
	// its transaction up to offset 9 (max event time 01:00) is committed
	// and its copy arrives after two more reads.
	set(engine.Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: at("2026-03-14T00:30:00Z"), Offset: 4})
	reads := 0
	p.waitChangelog = func(context.Context) error {
		if reads++; reads == 2 {
			set(engine.Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: at("2026-03-14T01:00:00Z"), Offset: 9})
		}
		return nil
	}
	// 00:40 is late against 01:00 − 10m, on time against 00:30 − 10m.
	got, markers := kinds(t, processStage(t, p, stageMsg("2026-03-14T00:40:00Z", 0, 10, 1)))
	if strings.Join(got, ",") != "marker q=0,marker q=1,changelog 0" || markers[0].Offset != 10 || markers[0].MaxMs != at("2026-03-14T01:00:00Z") {
		t.Fatalf("stage 1 emitted %v %+v after %d waits: it went on with the stale changelog state", got, markers, reads)
	}
	// Without progress in the changelog it gives up after changelogTries reads.
	reads = 0
	p.waitChangelog = func(context.Context) error { reads++; return nil }
	if got, _ := kinds(t, processStage(t, p, stageMsg("2026-03-14T00:40:00Z", 1, 7, 1))); strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 1" {
		t.Fatalf("a partition with no state gave %v", got)
	}
	if reads != changelogTries-1 {
		t.Fatalf("%d waits for a changelog that never catches up, want %d", reads, changelogTries-1)
	}
}

// A state read that fails (the changelog topic is not created yet, the
// broker is away) is retried: failing the batch would turn its rows into
// dead letters whose offsets the transaction then commits.
func TestStagePartialRetriesAFailedStateRead(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	fails, waits := failStateReads(&p.readState, &p.waitChangelog, 3)
	out := processStage(t, p, stageMsg("2026-03-14T00:40:00Z", 0, 0, 1))
	for _, m := range out {
		if m.GetError() != nil {
			t.Fatalf("a failed state read failed the batch: %v", m.GetError())
		}
	}
	if got, _ := kinds(t, out); strings.Join(got, ",") != "partial,marker q=0,marker q=1,changelog 0" {
		t.Fatalf("after three failed reads stage 1 emitted %v", got)
	}
	if *fails != 0 || *waits != 3 {
		t.Fatalf("%d reads left to fail, %d waits; want 0 and 3", *fails, *waits)
	}
	// Shutting down ends the retries with an error.
	p2, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	p2.readState = func(context.Context, string) ([]byte, error) { return nil, errors.New("broker away") }
	p2.waitChangelog = func(context.Context) error { return context.Canceled }
	if _, err := p2.ProcessBatch(context.Background(), service.MessageBatch{stageMsg("2026-03-14T00:40:00Z", 0, 0, 1)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("retries on a closed context ended with %v", err)
	}
}

// Stage 1's changelog copy of p's marker carries window_state_partition = p,
// so that the output writes it to partition p of G-stage1-state
// (docs/scale-out.md); the markers for the internal topic carry none.
func TestStagePartialChangelogCopyGoesToItsSourcePartition(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p, err := newPartialProcessor(stageConfig(t, "partial", res), res, newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	out := processStage(t, p, stageMsg("2026-03-14T00:30:00Z", 1, 0, 1), stageMsg("2026-03-14T00:31:00Z", 0, 0, 1))
	copies := map[string]string{}
	for _, m := range out {
		key, isCopy := m.MetaGet(changelogKeyMeta)
		part, hasPart := m.MetaGet(statePartitionMeta)
		if !isCopy {
			if hasPart {
				t.Fatalf("a message for the internal topic carries %s = %s", statePartitionMeta, part)
			}
			continue
		}
		body, _ := m.AsBytes()
		mk, err := engine.DecodeMarker(body)
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.Itoa(int(mk.Partition)); key != want || part != want {
			t.Fatalf("the changelog copy of partition %d's marker has key %q and %s %q, want %q for both", mk.Partition, key, statePartitionMeta, part, want)
		}
		copies[key] = part
	}
	if len(copies) != 2 {
		t.Fatalf("changelog copies %v, want one for each of partitions 0 and 1", copies)
	}
}

// failStateReads makes *read fail its next n calls (as a changelog topic
// that does not exist yet) and *wait return at once; it returns the number
// of failures left and of waits made.
func failStateReads(read *func(context.Context, string) ([]byte, error), wait *func(context.Context) error, n int) (fails, waits *int) {
	fails, waits = new(int), new(int)
	*fails = n
	next := *read
	*read = func(ctx context.Context, key string) ([]byte, error) {
		if *fails > 0 {
			*fails--
			return nil, errors.New("UNKNOWN_TOPIC_OR_PARTITION")
		}
		return next(ctx, key)
	}
	*wait = func(context.Context) error { *waits++; return nil }
	return fails, waits
}

// state.on_lost: resume is the way out of a hold for stages local and
// partial too (stage_local.go, stage_partial_lost.go implement it): lint and
// the config accept it there, and still refuse it for stage merge, whose
// state is not checked this way.
func TestOnLostResumeIsAcceptedForStagesLocalAndPartial(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	for stage, ok := range map[string]bool{"local": true, "partial": true, "merge": false} {
		yaml := ridesYAML + "  on_lost: resume\nstage: " + stage + "\n"
		conf, err := spec().ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, cerr := fromParsed(conf, res)
		indented := "tumbling_window:\n  " + strings.ReplaceAll(strings.TrimSpace(yaml), "\n", "\n  ")
		lerr := service.NewStreamBuilder().AddProcessorYAML(indented)
		if ok && (cerr != nil || lerr != nil) {
			t.Errorf("stage %s with on_lost resume refused: config %v, lint %v", stage, cerr, lerr)
		}
		if !ok && (cerr == nil || lerr == nil || !strings.Contains(lerr.Error(), "state.on_lost")) {
			t.Errorf("stage %s with on_lost resume accepted: config %v, lint %v", stage, cerr, lerr)
		}
	}
}
