package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A local stage 1 keeps one state per source partition, so that a
// partition's state moves with it between replicas: its progress, its
// closed window end, its open windows and its recently sent bundles.

// localStateVersion is the JSON form's (written until session 39, still
// read); localStateVersionBinary (local_statebin.go) is written since.
const localStateVersion = 1

// LocalStamp is what the caller records with a partition's state.
type LocalStamp struct {
	// Fence is the writer's fencing token (kafka: the group generation at
	// which it was assigned the partition): a writer with a lower one than
	// the stored state's has lost the partition.
	Fence int64 `json:"fence,omitempty"`
	// Commit is the offset up to which the input may commit with this
	// state: a state read back with a lower one than the group's commit is
	// older than the commit, and the records between would be lost.
	Commit int64 `json:"commit,omitempty"`
}

type localState struct {
	Version int    `json:"version"`
	Config  string `json:"config"` // StageFingerprint of the writer
	LocalStamp
	Marker Marker        `json:"marker"`
	Closed int64         `json:"closed_us"`
	Open   []Partial     `json:"open,omitempty"` // by (window start, key)
	Sent   []sentBundles `json:"sent,omitempty"`
}

// SnapshotPartition encodes a source partition's state with stamp; ok is
// false if the engine holds none.
func (e *LocalEngine) SnapshotPartition(topic string, partition int32, stamp LocalStamp) (data []byte, ok bool, err error) {
	s := e.parts[Position{Topic: topic, Partition: partition}.Key()]
	if s == nil {
		return nil, false, nil
	}
	st := localState{Version: localStateVersionBinary, Config: e.config, LocalStamp: stamp, Marker: s.m, Closed: s.closed, Sent: s.sent}
	data = snapshotLocalBinary(&st, s.open, s.snapLen)
	s.snapLen = len(data)
	return data, true, nil
}

// LoadPartition replaces a source partition's state with one written by
// SnapshotPartition, at processing time now; nil data starts it afresh.
func (e *LocalEngine) LoadPartition(topic string, partition int32, data []byte, now time.Time) error {
	k := Position{Topic: topic, Partition: partition}.Key()
	if data == nil {
		delete(e.parts, k)
		return nil
	}
	st, err := decodeLocal(data)
	if err != nil {
		return fmt.Errorf("state of %s is not a local window state: %w", k, err)
	}
	if st.Config != e.config {
		return fmt.Errorf("state of %s %w (its config %s, this one %s)", k, errOtherConfig, st.Config, e.config)
	}
	s := newLocalPart(topic, partition)
	s.m, s.closed, s.sent, s.lastSeenMs, s.loaded = st.Marker, st.Closed, st.Sent, msOf(now), len(st.Sent) > 0
	s.m.Topic, s.m.Partition = topic, partition
	for _, p := range st.Open {
		if len(p.Aggs) != len(e.cfg.Aggregates) || p.Rows < 1 {
			return fmt.Errorf("state of %s is corrupt: window %d key %s", k, p.StartUs, p.Key)
		}
		keys := s.open[p.StartUs]
		if keys == nil {
			keys = map[string]*group{}
			s.open[p.StartUs] = keys
		}
		keys[p.Key] = &group{Rows: p.Rows, Aggs: p.Aggs}
	}
	e.parts[k] = s
	return nil
}

var errOtherConfig = errors.New("was written with another window config (size, offset, watermark.delay, group_by, aggregates); use a new state.key when changing them")

// LocalStateInfo reads the stamp and the last applied offset of a state
// written by SnapshotPartition.
func LocalStateInfo(data []byte) (stamp LocalStamp, offset int64, err error) {
	if bytes.HasPrefix(data, []byte(localBinMagic)) {
		r := &binReader{b: data[len(localBinMagic):]}
		st := readLocalHeader(r)
		if r.err != nil || st.Version != localStateVersionBinary {
			return LocalStamp{}, 0, fmt.Errorf("not a local window state (version %d): %v", st.Version, r.err)
		}
		return st.LocalStamp, st.Marker.Offset, nil
	}
	var st struct {
		Version int `json:"version"`
		LocalStamp
		Marker Marker `json:"marker"`
	}
	if err := json.Unmarshal(data, &st); err != nil || st.Version != localStateVersion {
		return LocalStamp{}, 0, fmt.Errorf("not a local window state (version %d): %v", st.Version, err)
	}
	return st.LocalStamp, st.Marker.Offset, nil
}

// Ensure makes the engine hold a state of the partition, empty if it had
// none: a partition whose records all went elsewhere (dead letters) still
// has its commits covered by a written state.
func (e *LocalEngine) Ensure(topic string, partition int32) {
	k := Position{Topic: topic, Partition: partition}.Key()
	if e.parts[k] == nil {
		e.parts[k] = newLocalPart(topic, partition)
	}
}
