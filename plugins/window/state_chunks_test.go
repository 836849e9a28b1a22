package window

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// mapRead reads keys from m, as a cache that answers a missing key with
// nothing (getKey's contract).
func mapRead(m map[string][]byte) func(context.Context, string) ([]byte, error) {
	return func(_ context.Context, key string) ([]byte, error) { return m[key], nil }
}

func chunkMap(key string, chunks [][]byte) map[string][]byte {
	m := map[string][]byte{}
	for i, c := range chunks {
		m[chunkKey(key, i)] = c
	}
	return m
}

func TestSplitStateJoinsBackWhole(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(rnd.IntN(256))
	}
	for _, max := range []int{1, 7, 333, 999, 1000, 1001} {
		chunks := splitState(data, max)
		want := (len(data) + max - 1) / max
		if len(data) <= max {
			if len(chunks) != 1 || !bytes.Equal(chunks[0], data) {
				t.Fatalf("max %d: a state that fits must stay one record as it is", max)
			}
			want = 1
		}
		if len(chunks) != want {
			t.Fatalf("max %d: %d chunks, want %d", max, len(chunks), want)
		}
		for i, c := range chunks {
			if len(chunks) > 1 && len(c) > max+chunkHeaderBytes {
				t.Fatalf("max %d: chunk %d holds %d bytes", max, i, len(c))
			}
		}
		got, err := joinChunks(mapRead(chunkMap("s-0", chunks)))(context.Background(), "s-0")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("max %d: joined %d bytes (%v), want the %d written", max, len(got), err, len(data))
		}
	}
	if got, err := joinChunks(mapRead(nil))(context.Background(), "s-0"); got != nil || err != nil {
		t.Fatalf("no state: %q, %v", got, err)
	}
}

// Chunks of two versions (the cache caught up between two reads), a
// missing or a damaged chunk are never joined into a state: the read fails
// with errMixedChunks and is retried.
func TestJoinChunksRefusesChunksThatAreNotOneState(t *testing.T) {
	v1 := splitState(bytes.Repeat([]byte("a"), 100), 40)
	v2 := splitState(bytes.Repeat([]byte("b"), 100), 40)
	damaged := append([]byte(nil), v1[2]...)
	damaged[len(damaged)-1] ^= 1
	shorter := splitState(bytes.Repeat([]byte("a"), 90), 40) // same count, other length
	cases := map[string]map[string][]byte{
		"newer chunk 1":       chunkMap("s-0", [][]byte{v1[0], v2[1], v1[2]}),
		"older chunk 0":       chunkMap("s-0", [][]byte{v1[0], v2[1], v2[2]}),
		"missing chunk 2":     chunkMap("s-0", v1[:2]),
		"damaged chunk 2":     chunkMap("s-0", [][]byte{v1[0], v1[1], damaged}),
		"other length":        chunkMap("s-0", [][]byte{v1[0], v1[1], shorter[2]}),
		"chunk 1 under key 0": chunkMap("s-0", [][]byte{v1[1], v1[1], v1[2]}),
	}
	for name, m := range cases {
		got, err := joinChunks(mapRead(m))(context.Background(), "s-0")
		if !errors.Is(err, errMixedChunks) {
			t.Errorf("%s: joined %q, %v; want errMixedChunks", name, got, err)
		}
	}
}

type testPending struct{ v []byte }

func (p testPending) Error() string                { return "pending" }
func (p testPending) PendingValue() ([]byte, bool) { return p.v, p.v != nil }

// A chunk whose key has a newer record behind an open transaction gives its
// visible value, and the state joined from it comes back as pending (the
// caller reads again while it is behind).
func TestJoinChunksPassesAPendingChunkOn(t *testing.T) {
	data := bytes.Repeat([]byte("xyz"), 50)
	m := chunkMap("s-0", splitState(data, 60))
	read := func(ctx context.Context, key string) ([]byte, error) {
		if key == "s-0#2" {
			return nil, testPending{m[key]}
		}
		return m[key], nil
	}
	_, err := joinChunks(read)(context.Background(), "s-0")
	var ps pendingState
	if !errors.As(err, &ps) {
		t.Fatalf("err %v, want a pendingState", err)
	}
	if v, ok := ps.PendingValue(); !ok || !bytes.Equal(v, data) {
		t.Fatalf("pending value %d bytes, want the whole state", len(v))
	}
}

// A stage-2 state above the chunk size leaves as several state messages
// (key, key#1, ...), each within the size, in one batch after q's rows; the
// next owner of q joins them back and goes on exactly as from one record.
// Before chunking such a state was one record above Kafka's
// max.message.bytes, refused on every retry: the job stalled.
func TestStageMergeChangelogStateAboveTheChunkSizeLeavesInChunks(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newChangelogMerge(t, res)
	a.chunkBytes = 64
	out := processStage(t, a, internal[:4]...)
	_, states := splitMerge(t, out)
	whole, err := a.parts[0].eng.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) <= 2*a.chunkBytes {
		t.Fatalf("the test state is %d bytes: too small to need 3 chunks of %d", len(whole), a.chunkBytes)
	}
	if len(states) != (len(whole)+63)/64 {
		t.Fatalf("%d state messages for a %d-byte state in chunks of 64: %v", len(states), len(whole), keysOf(states))
	}
	for k, v := range states {
		if len(v) > a.chunkBytes+chunkHeaderBytes {
			t.Fatalf("state message %s holds %d bytes", k, len(v))
		}
		setCache(t, res, k, v)
	}
	var stateParts []string
	for _, m := range out {
		if kind, _ := m.MetaGet(kindMeta); kind == kindState {
			q, _ := m.MetaGet(statePartitionMeta)
			stateParts = append(stateParts, q)
		}
	}
	if strings.Trim(strings.Join(stateParts, ""), "0") != "" {
		t.Fatalf("state messages for partitions %v, want q = 0 for all", stateParts)
	}

	b := newChangelogMerge(t, res)
	for _, m := range internal[4:] {
		m.MetaSetMut(epochMeta, 2)
	}
	rows, _ := splitMerge(t, processStage(t, b, internal[4:]...))
	w0, w1 := "1773446400000", "1773446700000"
	if !strings.HasPrefix(strings.Join(rows, ","), "0/1@"+w0+",0/2@"+w1+",") {
		t.Fatalf("the next owner emitted %v: it did not go on from the chunked state", rows)
	}
}

// The new owner reads chunks of two versions (the changelog caught up
// between its reads): it reads again until the chunks are one state, and
// goes on from that one.
func TestStageMergeReadsMixedChunksAgain(t *testing.T) {
	internal := internalRecords(t, "2026-03-14T00:01:00Z", "2026-03-14T00:06:00Z", "2026-03-14T00:30:00Z", "2026-03-14T00:50:00Z")
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	a := newChangelogMerge(t, res)
	a.chunkBytes = 64
	_, s4 := splitMerge(t, processStage(t, a, internal[:4]...))
	_, s6 := splitMerge(t, processStage(t, a, internal[4:6]...))
	for k, v := range s6 {
		setCache(t, res, k, v)
	}
	setCache(t, res, "rides_agg-0#1", s4["rides_agg-0#1"]) // an older chunk 1

	b := newChangelogMerge(t, res)
	waits := 0
	b.waitChangelog = func(context.Context) error {
		if waits++; waits == 3 {
			setCache(t, res, "rides_agg-0#1", s6["rides_agg-0#1"])
		}
		return nil
	}
	for _, m := range internal[6:] {
		m.MetaSetMut(epochMeta, 2)
	}
	processStage(t, b, internal[6:]...)
	if got := b.parts[0].eng.Seq(); got != 3 || waits != 3 {
		t.Fatalf("after %d waits the new owner is at sequence %d, want 3 after 3", waits, got)
	}
}

func keysOf(m map[string][]byte) []string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s(%d)", k, len(v)))
	}
	return ks
}
