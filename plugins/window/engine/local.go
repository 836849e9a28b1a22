package engine

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"time"
)

// Stage 1 without Kafka transactions (StageLocal, docs/scale-out.md "Local
// stage 1"). The lateness rule of stage full depends on a row's own source
// partition alone, and sums are exact, so the aggregate of partition p's
// on-time rows of (window, key) is a function of p's records in offset
// order, whatever the batching. LocalEngine keeps, per source partition,
// stage full's open windows and closes them on that partition's own
// watermark (its max event time − delay): each partial it sends is final,
// the same on every replay and from a zombie replica, so delivery may repeat
// and reorder. Stage 2 takes p's partials once, in the order of p's closed
// window ends (Engine.Merge: Bundle.From/To), without a transaction.

// Bundle is what one source partition p sends to one internal partition
// (Shard of Shards) when its watermark passes window ends, changes idleness
// or is announced empty: p's final partials of the windows ending in
// (From, To] whose key routes to Shard (ShardOf), and p's progress. One
// bundle is one Kafka record, so an internal partition gets all of p's
// partials of a window end or none; a bundle of more than
// LocalEngine.MaxPartials partials is split in Parts records (Part 0..n-1)
// that stage 2 puts back together before taking any.
type Bundle struct {
	Source   Marker    `json:"source"`
	From     int64     `json:"from_us"` // p's closed window end before (noWatermark: none)
	To       int64     `json:"to_us"`   // p's closed window end after
	Shard    int32     `json:"shard"`
	Shards   int32     `json:"shards"`
	Part     int32     `json:"part,omitempty"`
	Parts    int32     `json:"parts,omitempty"` // 0 or 1: whole
	Partials []Partial `json:"partials,omitempty"`
}

// ShardOf is the internal partition (of n) the partials of key go to:
// FNV-1a of the key. It is part of the wire contract between the stages of
// every replica, so it never changes.
func ShardOf(key string, n int32) int32 {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32() % uint32(n))
}

// LocalResult is the outcome of one local stage-1 batch.
type LocalResult struct {
	Status          []Status
	LateWindowEndUs map[int]int64
	// Bundles to send, re-sent ones (a replay of rows whose bundles may not
	// have been delivered) first, then new ones by source partition.
	Bundles []Bundle
}

// localPart is one source partition's stage-1 state.
type localPart struct {
	m          Marker
	lastSeenMs int64
	closed     int64                       // latest window end sent, µs (noWatermark: none)
	open       map[int64]map[string]*group // window start µs → key → aggregate
	// sent are the bundles of recent window ends, by the offset of the
	// partition whose processing closed them: a replay of that offset
	// (its batch was not acknowledged, so they may not have been
	// delivered) sends them again (ForgetDelivered drops delivered ones).
	sent []sentBundles
	// loaded: read from a checkpoint; the next batch sends sent again.
	loaded bool
	// snapLen is the length of its last snapshot (the next one's buffer).
	snapLen int
}

type sentBundles struct {
	Trigger int64 `json:"trigger"`
	// Flush: sent as the partition went idle, after the batch of Trigger
	// (see ForgetDelivered).
	Flush   bool     `json:"flush,omitempty"`
	Bundles []Bundle `json:"bundles"`
	// bin is Bundles in the binary state (writeBundle), made at the first
	// snapshot that holds them: an entry never changes, and with many keys
	// it stays in every snapshot until its bundles are delivered.
	bin []byte
}

// LocalEngine is StageLocal's stage 1. Not goroutine-safe.
type LocalEngine struct {
	cfg      Config
	sizeUs   int64
	offsetUs int64
	delayMs  int64
	parts    map[string]*localPart
	keys     PartitionKeys
	config   string
	// MaxPartials is the most partials one Bundle record carries.
	MaxPartials int
}

// DefaultMaxPartials keeps a bundle record of the rides job's partials far
// below Kafka's 1 MiB default record size (a partial is ~200 bytes).
const DefaultMaxPartials = 1000

// NewLocal builds a local stage-1 engine; cfg.Stage must be StageLocal.
func NewLocal(cfg Config) (*LocalEngine, error) {
	if cfg.Stage != StageLocal {
		return nil, fmt.Errorf("NewLocal needs stage local, got %q", cfg.Stage)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &LocalEngine{cfg: cfg, sizeUs: cfg.Size.Microseconds(), offsetUs: cfg.Offset.Microseconds(),
		delayMs: cfg.Delay.Milliseconds(), parts: map[string]*localPart{}, config: cfg.StageFingerprint(),
		MaxPartials: DefaultMaxPartials}, nil
}

// loaded returns, sorted, the partitions loaded since the last batch, and
// clears their mark.
func (e *LocalEngine) loaded() []*localPart {
	m := map[*localPart]bool{}
	for _, s := range e.parts {
		if s.loaded {
			m[s], s.loaded = true, false
		}
	}
	return sortedParts(m)
}

func hasPartials(bs []Bundle) bool {
	return slices.ContainsFunc(bs, func(b Bundle) bool { return len(b.Partials) > 0 })
}

func newLocalPart(topic string, partition int32) *localPart {
	return &localPart{m: Marker{Topic: topic, Partition: partition, MaxMs: noWatermark, Offset: -1},
		closed: noWatermark, open: map[int64]map[string]*group{}}
}

// Process runs one batch. Rows must carry their position (HasPos); a row at
// or below its partition's state offset is Replayed, and re-sends the
// bundles it closed windows with (they may not have been delivered: its
// batch was not acknowledged).
func (e *LocalEngine) Process(rows []Row, now time.Time) LocalResult {
	nowMs := msOf(now)
	res := LocalResult{Status: make([]Status, len(rows))}
	touched := map[*localPart]bool{}
	idleBefore := map[*localPart]bool{}
	var resend []Bundle
	for _, s := range e.loaded() {
		// Loaded from a checkpoint: whether its sent bundles were
		// delivered before is unknown.
		for _, sb := range s.sent {
			resend = append(resend, sb.Bundles...)
		}
	}
	for i := range rows {
		r := &rows[i]
		if r.Heartbeat {
			res.Status[i] = Tick
			continue
		}
		k := e.keys.Of(r.Pos)
		s := e.parts[k]
		if s == nil {
			s = newLocalPart(r.Pos.Topic, r.Pos.Partition)
			e.parts[k] = s
		}
		if r.Pos.Offset <= s.m.Offset {
			// A replay passes every offset once, so each bundle is sent
			// again once, by the row that closed its windows.
			res.Status[i] = Replayed
			if j, ok := slices.BinarySearchFunc(s.sent, r.Pos.Offset, func(sb sentBundles, o int64) int { return cmp.Compare(sb.Trigger, o) }); ok {
				resend = append(resend, s.sent[j].Bundles...)
			}
			continue
		}
		if !touched[s] {
			touched[s], idleBefore[s] = true, s.m.Idle
		}
		start := windowStart(r.TimeUs, e.sizeUs, e.offsetUs)
		end := start + e.sizeUs
		late := observeRow(&s.m, r, end, e.delayMs)
		s.lastSeenMs = nowMs
		if late || end <= s.closed {
			// end <= closed without being late: the window left with the
			// partition's idle announcement (stage full counts such a row
			// ClosedEarly too, as its window was emitted without it).
			res.Status[i] = Late
			if !late {
				res.Status[i] = ClosedEarly
			}
			if res.LateWindowEndUs == nil {
				res.LateWindowEndUs = map[int]int64{}
			}
			res.LateWindowEndUs[i] = end
			continue
		}
		foldRow(s.open, start, r, e.cfg.Aggregates)
		res.Status[i] = Applied
	}
	// Idleness is processing time (opt-in): a partition quiet for the idle
	// timeout is announced once as idle.
	if idle := e.cfg.IdleTimeout.Milliseconds(); idle > 0 {
		for _, s := range e.parts {
			if !touched[s] && !s.m.Idle && s.m.MaxMs != noWatermark && nowMs-s.lastSeenMs >= idle {
				touched[s], idleBefore[s] = true, false
				s.m.Idle = true
			}
		}
	}
	res.Bundles = resend
	for _, s := range sortedParts(touched) {
		to := e.closedEnd(s.m)
		flush := s.m.Idle && !idleBefore[s]
		if flush {
			// Going idle, the partition sends every open window: stage 2
			// closes windows without it from now on, and stage full would
			// emit them with the rows it has.
			for start := range s.open {
				to = max(to, start+e.sizeUs)
			}
		}
		if to <= s.closed && s.m.Idle == idleBefore[s] {
			continue
		}
		bs := e.cut(s, max(to, s.closed))
		res.Bundles = append(res.Bundles, bs...)
		if !s.m.Idle || hasPartials(bs) { // a bare idle announcement is made again after a restart
			// Kept until ForgetDelivered, not by count: how many window
			// ends are in flight depends on batching.
			s.sent = append(s.sent, sentBundles{Trigger: s.m.Offset, Flush: flush, Bundles: bs})
		}
	}
	for _, m := range e.empties(rows) {
		for q := int32(0); q < max(1, m.Partitions); q++ {
			res.Bundles = append(res.Bundles, Bundle{Source: m, From: noWatermark, To: noWatermark, Shard: q, Shards: max(1, m.Partitions)})
		}
	}
	return res
}

// cut removes p's open windows ending at or before to and returns them as
// one bundle (or its parts) per internal partition, every internal
// partition getting one (it carries p's progress).
func (e *LocalEngine) cut(s *localPart, to int64) []Bundle {
	n := max(1, s.m.Partitions)
	perShard := make([][]Partial, n)
	starts := make([]int64, 0, len(s.open))
	for start := range s.open {
		if start+e.sizeUs <= to {
			starts = append(starts, start)
		}
	}
	slices.Sort(starts)
	for _, start := range starts {
		keys := s.open[start]
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			g := keys[k]
			q := ShardOf(k, n)
			perShard[q] = append(perShard[q], Partial{StartUs: start, Key: k, Rows: g.Rows, Aggs: g.Aggs, Config: e.config})
		}
		delete(s.open, start)
	}
	var out []Bundle
	for q, ps := range perShard {
		b := Bundle{Source: s.m, From: s.closed, To: to, Shard: int32(q), Shards: n}
		if len(ps) <= e.MaxPartials || e.MaxPartials <= 0 {
			b.Partials = ps
			out = append(out, b)
			continue
		}
		parts := (len(ps) + e.MaxPartials - 1) / e.MaxPartials
		for i := 0; i < parts; i++ {
			c := b
			c.Part, c.Parts = int32(i), int32(parts)
			c.Partials = ps[i*e.MaxPartials : min((i+1)*e.MaxPartials, len(ps))]
			out = append(out, c)
		}
	}
	s.closed = to
	return out
}

// empties are the announcements of partitions the input read to their end
// without a record since its assignment, as PartialEngine makes them.
func (e *LocalEngine) empties(rows []Row) []Marker {
	if e.cfg.IdleTimeout <= 0 {
		return nil
	}
	var out []Marker
	seen := map[Position]bool{}
	for i := range rows {
		r := &rows[i]
		if !r.Heartbeat || r.Partitions <= 0 {
			continue
		}
		for _, p := range r.Empty {
			pos := Position{Topic: r.Pos.Topic, Partition: p}
			if p < 0 || p >= r.Partitions || seen[pos] {
				continue
			}
			seen[pos] = true
			if s := e.parts[pos.Key()]; s != nil && s.m.MaxMs != noWatermark {
				continue
			}
			out = append(out, AnnounceEmpty(r.Pos.Topic, p, r.Partitions))
		}
	}
	return out
}

// closedEnd is the latest window end a marker's watermark has passed.
func (e *LocalEngine) closedEnd(m Marker) int64 {
	if m.MaxMs == noWatermark {
		return noWatermark
	}
	return windowStart((m.MaxMs-e.delayMs)*1000, e.sizeUs, e.offsetUs)
}

// ForgetDelivered drops the sent bundles of offsets below acked[key] (the
// offset after the partition's last acknowledged record): their batch was
// acknowledged only once they were delivered. A partition loaded from a
// checkpoint sends every bundle it still holds again.
func (e *LocalEngine) ForgetDelivered(acked map[string]int64) {
	for k, next := range acked {
		s := e.parts[k]
		if s == nil {
			continue
		}
		// An idle flush left after its trigger's batch, so that batch's
		// acknowledgement says nothing of it: it goes with the first
		// delivered bundles sent after it.
		i := 0
		for j := 0; j < len(s.sent) && s.sent[j].Trigger < next; j++ {
			if !s.sent[j].Flush {
				i = j + 1
			}
		}
		s.sent = slices.Delete(s.sent, 0, i)
	}
}

// Delivered drops the sent bundles a writer delivered itself (a sender
// that writes bundles outside the batches that closed them, so that their
// batches' acknowledgements say nothing of them): an entry goes once a
// bundle of it (same source partition, window ends and source offset) was
// written, since a writer delivers an entry's bundles together. It returns
// the partitions whose state changed.
func (e *LocalEngine) Delivered(bs []Bundle) []Position {
	type id struct {
		from, to, offset int64
	}
	done := map[string]map[id]bool{}
	for i := range bs {
		b := &bs[i]
		k := e.keys.Of(Position{Topic: b.Source.Topic, Partition: b.Source.Partition})
		if done[k] == nil {
			done[k] = map[id]bool{}
		}
		done[k][id{b.From, b.To, b.Source.Offset}] = true
	}
	var changed []Position
	for k, ids := range done {
		s := e.parts[k]
		if s == nil {
			continue
		}
		n := len(s.sent)
		s.sent = slices.DeleteFunc(s.sent, func(sb sentBundles) bool {
			if len(sb.Bundles) == 0 {
				return false
			}
			b := sb.Bundles[0]
			return ids[id{b.From, b.To, b.Source.Offset}]
		})
		if len(s.sent) != n {
			changed = append(changed, Position{Topic: s.m.Topic, Partition: s.m.Partition})
		}
	}
	return changed
}

// Partitions lists the source partitions the engine holds state of.
func (e *LocalEngine) Partitions() []Position {
	out := make([]Position, 0, len(e.parts))
	for _, s := range e.parts {
		out = append(out, Position{Topic: s.m.Topic, Partition: s.m.Partition, Offset: s.m.Offset})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Topic < out[j].Topic || (out[i].Topic == out[j].Topic && out[i].Partition < out[j].Partition)
	})
	return out
}

// MaxEventMs is the largest event time of the partitions held (false when
// none has a row), and OpenGroups their open (window, key) pairs: the
// window_max_event_time_ms and window_open_groups of a process.
func (e *LocalEngine) MaxEventMs() (int64, bool) {
	mx := int64(noWatermark)
	for _, s := range e.parts {
		mx = max(mx, s.m.MaxMs)
	}
	return mx, mx != noWatermark
}

func (e *LocalEngine) OpenGroups() int {
	n := 0
	for _, s := range e.parts {
		for _, g := range s.open {
			n += len(g)
		}
	}
	return n
}

// Forget drops the state of every partition for which keep is false.
func (e *LocalEngine) Forget(keep func(topic string, partition int32) bool) int {
	n := 0
	for k, s := range e.parts {
		if !keep(s.m.Topic, s.m.Partition) {
			delete(e.parts, k)
			n++
		}
	}
	return n
}

func sortedParts(m map[*localPart]bool) []*localPart {
	out := make([]*localPart, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i].m, &out[j].m
		return a.Topic < b.Topic || (a.Topic == b.Topic && a.Partition < b.Partition)
	})
	return out
}

// EncodeBundle and DecodeBundle are the wire form of a bundle in the
// internal topic (JSON; exact, see Partial). EncodeBundle writes
// json.Marshal's bytes without its reflection (local_json.go).
func EncodeBundle(b *Bundle) ([]byte, error) {
	w := jsonAppender{b: make([]byte, 0, 256+160*len(b.Partials))}
	w.bundle(b)
	return w.b, w.err
}

// DecodeBundle reads a bundle written by EncodeBundle: by bundleReader,
// or by encoding/json where that gives up (bundle_read.go).
func DecodeBundle(data []byte) (*Bundle, error) {
	b, ok := readBundleJSON(data)
	if !ok {
		b = Bundle{}
		if err := json.Unmarshal(data, &b); err != nil {
			return nil, fmt.Errorf("not a window bundle: %w", err)
		}
	}
	if b.Source.Topic == "" || b.Source.Partition < 0 {
		return nil, fmt.Errorf("not a window bundle: source topic %q partition %d", b.Source.Topic, b.Source.Partition)
	}
	return &b, nil
}
