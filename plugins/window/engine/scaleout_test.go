package engine

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"
)

// The scale-out property: the same records, read by R stage-1 replicas that
// own random sets of source partitions (moved between them at random), in
// random batches, with random transaction aborts, their partials hashed by
// key to Q stage-2 engines that crash, restore and get their input
// redelivered, give exactly the rows of one full engine on the same records,
// bit for bit.

func twoStageConfig(stage Stage) Config {
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit, cfg.Stage = ModePerPartition, EmitAfterBatch, stage
	// min and max too, so -0/+0 and extremes cross the wire.
	cfg.Aggregates = append(cfg.Aggregates, AggSpec{Name: "lo", Op: OpMin, HasValue: true}, AggSpec{Name: "hi", Op: OpMax, HasValue: true})
	return cfg
}

// withMinMax gives genLogs' rows values for the min and max aggregates.
func withMinMax(logs []partitionLog, rng *rand.Rand) {
	for p := range logs {
		for i := range logs[p].rows {
			r := &logs[p].rows[i]
			v := Value{F: r.Values[1].F - 7}
			switch rng.Intn(10) {
			case 0:
				v = Null
			case 1:
				v = Value{F: math.Copysign(0, -1)}
			case 2:
				v = Value{F: 0}
			}
			r.Values = []Value{r.Values[0], r.Values[1], Null, v, v}
		}
	}
}

// fullRows runs the records through one full engine in random batches.
func fullRows(t *testing.T, cfg Config, logs []partitionLog, rng *rand.Rand) map[string]string {
	t.Helper()
	e := newEngine(t, cfg)
	out := map[string]string{}
	pos := make([]int, len(logs))
	clock := epoch
	for done := false; !done; {
		done = true
		var batch []Row
		for p := range logs {
			n := min(len(logs[p].rows)-pos[p], rng.Intn(30))
			batch = append(batch, logs[p].rows[pos[p]:pos[p]+n]...)
			pos[p] += n
			done = done && pos[p] == len(logs[p].rows)
		}
		clock = clock.Add(time.Second)
		for _, em := range e.Process(batch, clock).Emissions {
			for _, r := range em.Rows {
				out[fmt.Sprintf("%d %s", r.StartUs, r.Key)] = body(t, cfg, r)
			}
		}
	}
	return out
}

func body(t *testing.T, cfg Config, r OutRow) string {
	t.Helper()
	b, err := r.JSON(cfg.GroupNames, cfg.Aggregates)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func keyPartition(key string, q int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(q))
}

// internalRecord is one record of the internal topic, as encoded on the wire.
type internalRecord struct {
	partial, marker, bundle []byte
	decoded                 *Bundle // bundle, decoded once (stage merge only reads it)
}

// twoStage is the simulated scaled-out job.
type twoStage struct {
	t         *testing.T
	rng       *rand.Rand
	cfg1      Config
	cfg2      Config
	logs      []partitionLog
	owner     []int            // source partition → stage-1 replica
	stage1    []*PartialEngine // per replica
	committed []int            // per source partition: next offset to read after the last commit
	changelog map[int]*Marker  // compacted: source partition → latest committed state
	internal  [][]internalRecord
	clock     time.Time
	dropped   int // rows late or replayed at stage 1 (for the sanity check)
}

func (s *twoStage) now() time.Time { s.clock = s.clock.Add(time.Second); return s.clock }

// reassign moves a random partition to a random replica, which loads its
// state from the changelog (a new assignment epoch).
func (s *twoStage) reassign() {
	p := s.rng.Intn(len(s.logs))
	r := s.rng.Intn(len(s.stage1))
	s.owner[p] = r
	s.stage1[r].Load("rides", int32(p), s.changelog[p], s.clock)
}

// stage1Step runs one batch of one replica, then commits its transaction or
// aborts it (the replica reloads the batch's partitions from the changelog
// and reads them again from the committed offsets).
func (s *twoStage) stage1Step() bool {
	r := s.rng.Intn(len(s.stage1))
	var owned []int
	for p, o := range s.owner {
		if o == r && s.committed[p] < len(s.logs[p].rows) {
			owned = append(owned, p)
		}
	}
	if len(owned) == 0 {
		return false
	}
	pos := map[int]int{}
	var batch []Row
	for n := 1 + s.rng.Intn(40); n > 0 && len(owned) > 0; n-- {
		i := s.rng.Intn(len(owned))
		p := owned[i]
		at := s.committed[p] + pos[p]
		batch = append(batch, s.logs[p].rows[at])
		if pos[p]++; at+1 == len(s.logs[p].rows) {
			owned = append(owned[:i], owned[i+1:]...)
		}
	}
	res := s.stage1[r].Process(batch, s.now())
	if s.rng.Intn(8) == 0 { // abort
		for p := range pos {
			s.stage1[r].Load("rides", int32(p), s.changelog[p], s.clock)
		}
		return true
	}
	for _, st := range res.Status {
		if st != Applied {
			s.dropped++
		}
	}
	for i := range res.Partials {
		b, err := EncodePartial(&res.Partials[i])
		if err != nil {
			s.t.Fatal(err)
		}
		q := keyPartition(res.Partials[i].Key, len(s.internal))
		s.internal[q] = append(s.internal[q], internalRecord{partial: b})
	}
	for i := range res.Markers {
		m := res.Markers[i]
		b, err := EncodeMarker(&m)
		if err != nil {
			s.t.Fatal(err)
		}
		for q := range s.internal {
			s.internal[q] = append(s.internal[q], internalRecord{marker: b})
		}
		s.changelog[int(m.Partition)] = &m
	}
	for p, n := range pos {
		s.committed[p] += n
	}
	return true
}

// merger is one stage-2 engine on internal partition q, with crashes.
type merger struct {
	q        int
	e        *Engine
	next     int // next internal offset to read
	snap     []byte
	snapNext int
	rows     map[string]string // window key → row
	seqs     map[int64]string  // seq → rows, concatenated in order
	conflict []string
}

func (s *twoStage) newMerger(q int) *merger {
	return &merger{q: q, e: newEngine(s.t, s.cfg2), rows: map[string]string{}, seqs: map[int64]string{}}
}

func (s *twoStage) decode(rec internalRecord, q, off int) MergeInput {
	in := MergeInput{Pos: Position{Topic: "G-repartition", Partition: int32(q), Offset: int64(off)}, HasPos: true}
	var err error
	switch {
	case rec.decoded != nil:
		in.Bundle = rec.decoded
	case rec.bundle != nil:
		in.Bundle, err = DecodeBundle(rec.bundle)
	case rec.partial != nil:
		in.Partial, err = DecodePartial(rec.partial)
	default:
		in.Marker, err = DecodeMarker(rec.marker)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return in
}

// mergeStep feeds the next records (a random number) of its partition.
func (s *twoStage) mergeStep(m *merger, crashes bool) {
	log := s.internal[m.q]
	n := min(len(log)-m.next, s.rng.Intn(30))
	var in []MergeInput
	for i := 0; i < n; i++ {
		rec := s.decode(log[m.next+i], m.q, m.next+i)
		if in = append(in, rec); rec.Partial != nil {
			if err := m.e.CheckPartial(rec.Partial); err != nil {
				s.t.Fatal(err)
			}
		}
		if rec.Bundle != nil {
			if err := m.e.CheckBundle(rec.Bundle); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	m.next += n
	res := m.e.Merge(in, s.now())
	for i, st := range res.Status {
		if st == ClosedEarly {
			s.t.Fatalf("q %d: input %d closed early without idleness", m.q, i)
		}
	}
	for _, em := range res.Emissions {
		bySeq := map[int64]string{}
		for _, r := range em.Rows {
			b := body(s.t, s.cfg2, r)
			k := fmt.Sprintf("%d %s", r.StartUs, r.Key)
			if old, ok := m.rows[k]; ok && old != b {
				m.conflict = append(m.conflict, k)
			}
			m.rows[k] = b
			bySeq[r.Seq] += b
		}
		for seq, b := range bySeq {
			if old, ok := m.seqs[seq]; ok && old != b {
				m.conflict = append(m.conflict, fmt.Sprint("seq ", seq))
			}
			m.seqs[seq] = b
		}
	}
	if !crashes {
		return
	}
	switch s.rng.Intn(12) {
	case 0: // checkpoint
		var err error
		if m.snap, err = m.e.Snapshot(); err != nil {
			s.t.Fatal(err)
		}
		m.snapNext = m.next
		assertSnapshotCachesFresh(s.t, m.e)
		assertRestoresAsIs(s.t, m.e, m.snap)
	case 1: // crash: restore, redeliver from the committed offset (at or before the checkpoint)
		m.e = newEngine(s.t, s.cfg2)
		if m.snap != nil {
			if err := m.e.Restore(m.snap); err != nil {
				s.t.Fatal(err)
			}
		}
		m.next = s.rng.Intn(m.snapNext + 1)
	}
}

func runTwoStage(t *testing.T, logs []partitionLog, replicas, q int, rng *rand.Rand) (rows map[string]string, mergers []*merger, s *twoStage) {
	s = &twoStage{t: t, rng: rng, cfg1: twoStageConfig(StagePartial), cfg2: twoStageConfig(StageMerge), logs: logs,
		owner: make([]int, len(logs)), committed: make([]int, len(logs)), changelog: map[int]*Marker{},
		internal: make([][]internalRecord, q), clock: epoch}
	for r := 0; r < replicas; r++ {
		e, err := NewPartial(s.cfg1)
		if err != nil {
			t.Fatal(err)
		}
		s.stage1 = append(s.stage1, e)
	}
	for p := range s.owner {
		s.owner[p] = rng.Intn(replicas)
	}
	for i := 0; i < q; i++ {
		mergers = append(mergers, s.newMerger(i))
	}
	for {
		progressed := false
		for k := 0; k < 3; k++ {
			if s.rng.Intn(20) == 0 {
				s.reassign()
			}
			progressed = s.stage1Step() || progressed
		}
		for _, m := range mergers {
			if m.next < len(s.internal[m.q]) {
				s.mergeStep(m, true)
				progressed = true
			}
		}
		if !progressed {
			done := true
			for p := range logs {
				done = done && s.committed[p] == len(logs[p].rows)
			}
			if done {
				break
			}
			s.reassign() // an owner with nothing left; move work around
		}
	}
	rows = map[string]string{}
	for _, m := range mergers {
		if len(m.conflict) > 0 {
			t.Fatalf("q %d emitted different rows for %v", m.q, m.conflict[:min(5, len(m.conflict))])
		}
		for k, b := range m.rows {
			if _, dup := rows[k]; dup {
				t.Fatalf("window %s emitted by two stage-2 partitions", k)
			}
			rows[k] = b
		}
	}
	return rows, mergers, s
}

func TestPropertyTwoStagesGiveTheFullEnginesRows(t *testing.T) {
	full := twoStageConfig(StageFull)
	for seed := int64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		logs := genLogs(rng, 1+rng.Intn(6))
		withMinMax(logs, rng)
		want := fullRows(t, full, logs, rand.New(rand.NewSource(seed)))
		if len(want) == 0 {
			t.Fatalf("seed %d: the full engine closed no window", seed)
		}
		got, mergers, s := runTwoStage(t, logs, 1+rng.Intn(3), 1+rng.Intn(6), rng)
		if d := diffRows(got, want); d != "" {
			t.Fatalf("seed %d (%d partitions, %d stage-2 partitions): rows differ from the full engine's:\n%s", seed, len(logs), len(mergers), d)
		}
		// The sequence a window gets does not depend on batching: a second
		// stage 2 on the same internal partition, batched differently and
		// without crashes (a zombie replica), numbers every window alike.
		for _, m := range mergers {
			z := s.newMerger(m.q)
			for z.next < len(s.internal[m.q]) {
				s.mergeStep(z, false)
			}
			if !reflect.DeepEqual(z.seqs, m.seqs) {
				t.Fatalf("seed %d q %d: sequences differ between two stage-2 runs:\n%v\n%v", seed, m.q, z.seqs, m.seqs)
			}
		}
	}
}

// The property has teeth: without the markers of one source partition,
// stage 2 must not emit anything; with markers of every partition but
// partials of one key dropped, the rows differ.
func TestTwoStagesHoldTheWatermarkForSilentPartitions(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	logs := genLogs(rng, 3)
	withMinMax(logs, rng)
	p1, err := NewPartial(twoStageConfig(StagePartial))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, twoStageConfig(StageMerge))
	var in []MergeInput
	for _, l := range logs[:2] { // partition 2 never reports
		res := p1.Process(l.rows, epoch)
		for i := range res.Partials {
			in = append(in, MergeInput{Partial: &res.Partials[i]})
		}
		for i := range res.Markers {
			in = append(in, MergeInput{Marker: &res.Markers[i]})
		}
	}
	if res := e.Merge(in, epoch); len(res.Emissions) != 0 {
		t.Fatalf("emitted %d rows with source partition 2 silent", len(res.Emissions[0].Rows))
	}
	// Partition 2 reports as idle: it no longer holds the watermark back.
	idle := Marker{Topic: "rides", Partition: 2, Partitions: 3, MaxMs: noWatermark, Idle: true}
	if res := e.Merge([]MergeInput{{Marker: &idle}}, epoch); len(res.Emissions) == 0 {
		t.Fatal("an idle source partition still holds the watermark back")
	}
}

// Stage 1 may send partition r's idle marker in a batch of another
// partition, unordered against r's next batch: an idle marker that arrives
// after a newer marker of r (a higher source offset) must not leave r out of
// the watermark, and one at r's newest offset still does.
func TestAStaleIdleMarkerDoesNotLeaveAPartitionOut(t *testing.T) {
	e := newEngine(t, twoStageConfig(StageMerge))
	mark := func(m Marker) int {
		return len(e.Merge([]MergeInput{{Marker: &m}}, epoch).Emissions)
	}
	const minute = 60_000
	start := Partial{StartUs: 0, Key: `["PARIS"]`, Rows: 1, Aggs: make([]acc, len(twoStageConfig(StageMerge).Aggregates))}
	for i := range start.Aggs {
		start.Aggs[i].add(Value{F: 1})
	}
	if res := e.Merge([]MergeInput{{Partial: &start}}, epoch); len(res.Emissions) != 0 {
		t.Fatal("a partial alone emitted")
	}
	// Partitions 0 and 1 are far past the first window; partition 1 was
	// last seen at offset 10, then its data at offset 20 (event time 1 min).
	mark(Marker{Topic: "rides", Partition: 0, Partitions: 2, MaxMs: 60 * minute, Offset: 500})
	mark(Marker{Topic: "rides", Partition: 1, Partitions: 2, MaxMs: minute, Offset: 20})
	// The marks survive a checkpoint: restored from a snapshot, the engine
	// still knows partition 1's newest marker offset.
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e = newEngine(t, twoStageConfig(StageMerge))
	if err := e.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if p := e.wm.Parts[Position{Topic: "rides", Partition: 1}.Key()]; p == nil || !p.Marked || p.MarkOffset != 20 || p.Idle {
		t.Fatalf("partition 1 after restore: %+v, want marked at offset 20, not idle", p)
	}
	// The stale idle marker of partition 1 at offset 10 arrives last.
	if n := mark(Marker{Topic: "rides", Partition: 1, Partitions: 2, MaxMs: minute, Offset: 10, Idle: true}); n != 0 {
		t.Fatal("a stale idle marker (offset 10 after 20) left partition 1 out of the watermark: the window closed")
	}
	// An idle marker at partition 1's newest offset does leave it out.
	if n := mark(Marker{Topic: "rides", Partition: 1, Partitions: 2, MaxMs: minute, Offset: 20, Idle: true}); n == 0 {
		t.Fatal("an idle marker at partition 1's newest offset did not let the window close")
	}
}

func TestPartialAndMarkerRoundTripExactly(t *testing.T) {
	var a acc
	for _, x := range []float64{1e308, 1, -1e308, 0.1, math.Copysign(0, -1), 3.3e-300} {
		a.add(Value{F: x})
	}
	var z acc
	z.add(Value{F: math.Copysign(0, -1)})
	in := Partial{StartUs: -300_000_000, Key: `["Zürich",null]`, Rows: 7, Aggs: []acc{a, z, {}}}
	b, err := EncodePartial(&in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodePartial(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*out, in) {
		t.Fatalf("partial changed on the wire:\n%+v\n%+v", in, *out)
	}
	for j := range in.Aggs {
		for i, x := range in.Aggs[j].Sum.P {
			if math.Float64bits(x) != math.Float64bits(out.Aggs[j].Sum.P[i]) {
				t.Fatalf("agg %d partial %d: %v became %v", j, i, x, out.Aggs[j].Sum.P[i])
			}
		}
		if math.Float64bits(in.Aggs[j].Min) != math.Float64bits(out.Aggs[j].Min) || math.Float64bits(in.Aggs[j].Max) != math.Float64bits(out.Aggs[j].Max) {
			t.Fatalf("agg %d: min/max changed sign or bits", j)
		}
	}
	if got, want := out.Aggs[0].Sum.value(), a.Sum.value(); math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("sum %v became %v", want, got)
	}
	m := Marker{Topic: "rides", Partition: 5, Partitions: 6, MaxMs: -12, Offset: 99, Idle: true}
	mb, err := EncodeMarker(&m)
	if err != nil {
		t.Fatal(err)
	}
	if m2, err := DecodeMarker(mb); err != nil || *m2 != m {
		t.Fatalf("marker %+v became %+v (%v)", m, m2, err)
	}
	if _, err := DecodePartial([]byte(`{"start_us":1}`)); err == nil {
		t.Fatal("a partial without key decoded")
	}
	if _, err := DecodeMarker([]byte(`{"partition":1}`)); err == nil {
		t.Fatal("a marker without topic decoded")
	}
}

func TestCheckPartialRefusesAnotherShape(t *testing.T) {
	e := newEngine(t, twoStageConfig(StageMerge))
	ok := Partial{StartUs: 0, Key: `["A"]`, Rows: 1, Aggs: make([]acc, 5)}
	if err := e.CheckPartial(&ok); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Partial{
		{StartUs: 0, Key: `["A"]`, Rows: 1, Aggs: make([]acc, 3)},
		{StartUs: 17, Key: `["A"]`, Rows: 1, Aggs: make([]acc, 5)},
		{StartUs: 0, Key: `["A"]`, Rows: 0, Aggs: make([]acc, 5)},
	} {
		if e.CheckPartial(&bad) == nil {
			t.Fatalf("partial %+v accepted", bad)
		}
	}
}

func TestStagesNeedThePerPartitionRule(t *testing.T) {
	for _, st := range []Stage{StagePartial, StageMerge} {
		cfg := twoStageConfig(st)
		cfg.Mode = ModeGlobal
		if err := cfg.Validate(); err == nil {
			t.Fatalf("stage %s accepted watermark.mode global", st)
		}
		cfg = twoStageConfig(st)
		cfg.Emit = EmitNextBatch
		if err := cfg.Validate(); err == nil {
			t.Fatalf("stage %s accepted emit next_batch", st)
		}
	}
	if _, err := New(twoStageConfig(StagePartial)); err == nil {
		t.Fatal("New built a stage-partial Engine")
	}
}

// Idleness is stage 1's call: an owned partition quiet for the idle
// timeout is announced once as idle (a heartbeat batch is enough), and
// announced active again with its next row.
func TestStageOneAnnouncesAnIdlePartitionOnce(t *testing.T) {
	cfg := twoStageConfig(StagePartial)
	cfg.IdleTimeout = time.Minute
	e, err := NewPartial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	row := func(p int32, off int64, ts string) Row {
		return Row{TimeUs: at(t, ts), Key: `["A"]`, Values: make([]Value, 5), Pos: Position{Topic: "rides", Partition: p, Offset: off}, HasPos: true, Partitions: 2}
	}
	e.Process([]Row{row(0, 0, "2026-01-01T00:01:00Z"), row(1, 0, "2026-01-01T00:01:00Z")}, epoch)
	res := e.Process([]Row{row(0, 1, "2026-01-01T00:02:00Z")}, epoch.Add(30*time.Second))
	if len(res.Markers) != 1 || res.Markers[0].Idle {
		t.Fatalf("markers %+v", res.Markers)
	}
	tick := []Row{{Heartbeat: true}}
	res = e.Process(tick, epoch.Add(61*time.Second))
	if len(res.Markers) != 1 || res.Markers[0].Partition != 1 || !res.Markers[0].Idle {
		t.Fatalf("after a minute without partition 1: markers %+v", res.Markers)
	}
	// At 2m partition 0 (last row at 30s) goes idle too; 1 is not announced again.
	if res = e.Process(tick, epoch.Add(2*time.Minute)); len(res.Markers) != 1 || res.Markers[0].Partition != 0 || !res.Markers[0].Idle {
		t.Fatalf("at 2m: markers %+v", res.Markers)
	}
	res = e.Process([]Row{row(1, 1, "2026-01-01T00:03:00Z")}, epoch.Add(3*time.Minute))
	if len(res.Markers) != 1 || res.Markers[0].Idle || res.Markers[0].Offset != 1 {
		t.Fatalf("partition 1 back: markers %+v", res.Markers)
	}
	// Without an idle timeout nothing is ever idle.
	cfg.IdleTimeout = 0
	e, _ = NewPartial(cfg)
	e.Process([]Row{row(0, 0, "2026-01-01T00:01:00Z")}, epoch)
	if res = e.Process(tick, epoch.Add(time.Hour)); len(res.Markers) != 0 {
		t.Fatalf("idle without idle_timeout: %+v", res.Markers)
	}
}

// Cover moves a partition's progress past records that reached no row
// (dead letters): a partition unknown so far starts with no event time, an
// offset at or below the progress moves nothing, and a row the progress
// covers is a replay.
func TestPartialCoverMovesProgressPastDeadLetters(t *testing.T) {
	p1, err := NewPartial(twoStageConfig(StagePartial))
	if err != nil {
		t.Fatal(err)
	}
	m, moved := p1.Cover("rides", 1, 3, 4)
	if !moved || m.Offset != 4 || m.MaxMs != noWatermark || m.Partitions != 3 || m.Idle {
		t.Fatalf("Cover of a new partition: %+v moved %v", m, moved)
	}
	if m, moved = p1.Cover("rides", 1, 3, 2); moved || m.Offset != 4 {
		t.Fatalf("Cover below the progress: %+v moved %v", m, moved)
	}
	row := func(off int64) Row {
		return Row{TimeUs: 1_000_000, Key: `["A"]`, Values: make([]Value, 5),
			Pos: Position{Topic: "rides", Partition: 1, Offset: off}, HasPos: true, Partitions: 3}
	}
	res := p1.Process([]Row{row(4), row(5)}, epoch)
	if res.Status[0] != Replayed || res.Status[1] != Applied || len(res.Markers) != 1 || res.Markers[0].Offset != 5 || res.Markers[0].MaxMs != 1000 {
		t.Fatalf("rows after Cover: statuses %v markers %+v", res.Status, res.Markers)
	}
}
