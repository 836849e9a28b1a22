package engine

import (
	"math/rand"
	"slices"
	"testing"
)

// The local stage-1 property: the same records, read by R replicas without
// transactions — partitions moved between them at random, zombies that go
// on reading a partition they lost, batches written to the internal topic
// out of order, in part, again after a failed write, replicas crashing and
// reloading their partitions' checkpoints (written ahead of the acks, as
// state.sync: commit writes them) — give exactly the rows of one full
// engine, bit for bit, through stage merges that crash and restore too.

type localFlight struct {
	bundles [][]byte
	next    map[int]int // source partition → offset after its last row in the batch
	done    bool        // every bundle written
}

type localReplica struct {
	e       *LocalEngine
	owned   map[int]bool // partitions it owns (it may commit them)
	reads   map[int]int  // partitions it reads (owned or zombie) → next offset
	flights []*localFlight
}

type localSim struct {
	*twoStage
	reps      []*localReplica
	store     map[int][]byte // source partition → checkpointed state
	committed []int
	maxParts  int
	rows      map[string]string // stage 2's rows at the end
}

func (s *localSim) newReplica() *localReplica {
	e, err := NewLocal(twoStageConfig(StageLocal))
	if err != nil {
		s.t.Fatal(err)
	}
	e.MaxPartials = s.maxParts
	return &localReplica{e: e, owned: map[int]bool{}, reads: map[int]int{}}
}

// assign gives p to replica r: it loads p's checkpoint and reads from the
// committed offset; the old owner may go on reading p as a zombie.
func (s *localSim) assign(p, r int) {
	for i, o := range s.reps {
		if i != r && o.owned[p] {
			delete(o.owned, p)
			if s.rng.Intn(2) == 0 {
				delete(o.reads, p)
				o.e.Forget(func(_ string, q int32) bool { return int(q) != p })
			}
		}
	}
	n := s.reps[r]
	for _, f := range n.flights {
		delete(f.next, p) // acks of an earlier assignment commit nothing (a new epoch)
	}
	if err := n.e.LoadPartition("rides", int32(p), s.store[p], s.clock); err != nil {
		s.t.Fatal(err)
	}
	n.owned[p], n.reads[p] = true, s.committed[p]
}

func (s *localSim) process(r *localReplica) bool {
	var readable []int
	for p, at := range r.reads {
		if at < len(s.logs[p].rows) {
			readable = append(readable, p)
		}
	}
	if len(readable) == 0 {
		return false
	}
	slices.Sort(readable)
	f := &localFlight{next: map[int]int{}}
	var batch []Row
	for n := 1 + s.rng.Intn(40); n > 0 && len(readable) > 0; n-- {
		i := s.rng.Intn(len(readable))
		p := readable[i]
		batch = append(batch, s.logs[p].rows[r.reads[p]])
		r.reads[p]++
		f.next[p] = r.reads[p]
		if r.reads[p] == len(s.logs[p].rows) {
			readable = append(readable[:i], readable[i+1:]...)
		}
	}
	res := r.e.Process(batch, s.now())
	for i := range res.Bundles {
		b, err := EncodeBundle(&res.Bundles[i])
		if err != nil {
			s.t.Fatal(err)
		}
		f.bundles = append(f.bundles, b)
	}
	r.flights = append(r.flights, f)
	return true
}

// write writes a random pending batch's bundles: all, or (a failed write,
// retried later in full) a random part of them.
func (s *localSim) write(r *localReplica) {
	var pending []*localFlight
	for _, f := range r.flights {
		if !f.done {
			pending = append(pending, f)
		}
	}
	if len(pending) == 0 {
		return
	}
	f := pending[s.rng.Intn(len(pending))]
	all := s.rng.Intn(4) != 0
	for _, b := range f.bundles {
		if all || s.rng.Intn(2) == 0 {
			d, err := DecodeBundle(b)
			if err != nil {
				s.t.Fatal(err)
			}
			s.internal[d.Shard] = append(s.internal[d.Shard], internalRecord{bundle: b, decoded: d})
		}
	}
	f.done = all
}

// commit checkpoints the owned partitions' state (everything processed,
// acknowledged or not) and commits the offsets of the acknowledged prefix.
func (s *localSim) commit(r *localReplica) {
	acked := map[int]int{}
	n := 0
	for ; n < len(r.flights) && r.flights[n].done; n++ {
		for p, next := range r.flights[n].next {
			acked[p] = next
		}
	}
	r.flights = r.flights[n:]
	forget := map[string]int64{}
	for p := range r.owned {
		data, ok, err := r.e.SnapshotPartition("rides", int32(p), LocalStamp{})
		if err != nil {
			s.t.Fatal(err)
		}
		if ok {
			s.store[p] = data
		}
		if next, ok := acked[p]; ok {
			s.committed[p] = max(s.committed[p], next)
			forget[Position{Topic: "rides", Partition: int32(p)}.Key()] = int64(next)
		}
	}
	r.e.ForgetDelivered(forget)
}

// crash loses the replica's memory and unwritten bundles (some written in
// part); it reloads its partitions from their checkpoints.
func (s *localSim) crash(i int) {
	old := s.reps[i]
	for _, f := range old.flights {
		if !f.done && s.rng.Intn(2) == 0 {
			for _, b := range f.bundles[:s.rng.Intn(len(f.bundles)+1)] {
				d, _ := DecodeBundle(b)
				s.internal[d.Shard] = append(s.internal[d.Shard], internalRecord{bundle: b, decoded: d})
			}
		}
	}
	s.reps[i] = s.newReplica()
	for p := range old.owned {
		s.assign(p, i)
	}
}

func runLocal(t *testing.T, logs []partitionLog, replicas int, rng *rand.Rand, maxParts int) map[string]string {
	return runLocalSim(t, logs, replicas, rng, maxParts).rows
}

func runLocalSim(t *testing.T, logs []partitionLog, replicas int, rng *rand.Rand, maxParts int) *localSim {
	q := len(logs)
	s := &localSim{twoStage: &twoStage{t: t, rng: rng, cfg2: twoStageConfig(StageMerge), logs: logs,
		internal: make([][]internalRecord, q), clock: epoch},
		store: map[int][]byte{}, committed: make([]int, len(logs)), maxParts: maxParts}
	for r := 0; r < replicas; r++ {
		s.reps = append(s.reps, s.newReplica())
	}
	for p := range logs {
		s.assign(p, rng.Intn(replicas))
	}
	var mergers []*merger
	for i := 0; i < q; i++ {
		mergers = append(mergers, s.newMerger(i))
	}
	for step := 0; ; step++ {
		r := rng.Intn(replicas)
		rep := s.reps[r]
		switch k := rng.Intn(40); {
		case k < 16:
			s.process(rep)
		case k < 30:
			s.write(rep)
		case k < 36:
			s.commit(rep)
		case k < 37:
			s.crash(r)
		case k < 39:
			s.assign(rng.Intn(len(logs)), r)
		default: // a zombie finally learns it lost its partitions
			for p := range rep.reads {
				if !rep.owned[p] {
					delete(rep.reads, p)
				}
			}
		}
		for _, m := range mergers {
			if m.next < len(s.internal[m.q]) && rng.Intn(3) == 0 {
				s.mergeStep(m, true)
			}
		}
		if step > 200000 {
			t.Fatal("no end")
		}
		done := true
		for p := range logs {
			done = done && s.committed[p] == len(logs[p].rows)
		}
		if done {
			break
		}
	}
	for _, m := range mergers {
		for m.next < len(s.internal[m.q]) {
			s.mergeStep(m, false)
		}
	}
	s.rows = map[string]string{}
	rows := s.rows
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
	return s
}

func TestPropertyLocalStageOneGivesTheFullEnginesRows(t *testing.T) {
	full := twoStageConfig(StageFull)
	for seed := int64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		logs := genLogs(rng, 1+rng.Intn(6))
		withMinMax(logs, rng)
		want := fullRows(t, full, logs, rand.New(rand.NewSource(seed)))
		if len(want) == 0 {
			t.Fatalf("seed %d: the full engine closed no window", seed)
		}
		got := runLocal(t, logs, 1+rng.Intn(3), rng, 1+rng.Intn(3))
		if d := diffRows(got, want); d != "" {
			t.Fatalf("seed %d (%d partitions): rows differ from the full engine's:\n%s", seed, len(logs), d)
		}
	}
}
