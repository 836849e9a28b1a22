package delta

import (
	"fmt"
	"regexp"
	"strconv"
)

// Holes: a writer of window sequences may commit sequence 7 before 5 and 6
// (emissions of two pipeline threads reach it out of order). The txn
// version then says 7, and a restart would take 5 and 6 as written. So a
// commit that moves the txn version past sequences it does not hold records
// them as holes, in txn actions of derived appIds (<appId>#hole0 ..
// #hole15), and a commit that fills one records the smaller set. The
// table's answer to "is sequence s of appId in?" is then exact across
// restarts and writers: s <= the txn version and s in no hole (TxnView).
// A txn action is the only per-appId state the protocol keeps through
// checkpoints, hence slots rather than commitInfo.
//
// A slot's version is (hi-lo+1)<<32 | hi, 0 = empty: every sequence fits 32
// bits with fencing (the only mode that records holes).
const (
	// MaxHoles is how many hole intervals an appId keeps; beyond, the
	// lowest are given up.
	MaxHoles = 16
	// HoleHorizon: a hole this many sequences below the txn version is
	// given up (the window re-emits only its recent emissions after a
	// restart; one that old will not come).
	HoleHorizon = 1024
)

// holeAppID is the txn appId of appID's hole slot i.
func holeAppID(appID string, i int) string { return appID + "#hole" + strconv.Itoa(i) }

var holeSlotName = regexp.MustCompile(`#hole[0-9]+$`)

// HoleText describes txn version v if appID is a hole slot ("missing
// sequences lo..hi", or "empty"), for people reading the log.
func HoleText(appID string, v int64) (string, bool) {
	if !holeSlotName.MatchString(appID) {
		return "", false
	}
	if iv, ok := decodeHole(v); ok {
		return fmt.Sprintf("%d (missing sequences %d..%d)", v, iv[0], iv[1]), true
	}
	return fmt.Sprintf("%d (empty)", v), true
}

func encodeHole(iv [2]int64) (int64, bool) {
	n := iv[1] - iv[0] + 1
	if iv[0] < 1 || iv[1] > MaxFencedSeq || n < 1 || n > MaxFenceToken {
		return 0, false
	}
	return n<<32 | iv[1], true
}

func decodeHole(v int64) ([2]int64, bool) {
	if v <= 0 {
		return [2]int64{}, false
	}
	hi, n := v&MaxFencedSeq, v>>32
	if n < 1 || hi-n+1 < 1 {
		return [2]int64{}, false
	}
	return [2]int64{hi - n + 1, hi}, true
}

// TxnView is what a table says of one appId: every version from the
// source's first up to Seq is in, except Holes.
type TxnView struct {
	Token, Seq int64
	Holes      intervals // at or below Seq, normalized
}

// Contains reports whether version v of the appId is in the table.
func (v TxnView) Contains(x int64) bool { return x <= v.Seq && !v.Holes.contains(x) }

// committed is the view as a set, from first.
func (v TxnView) committed(first int64) intervals {
	if v.Seq < first {
		return nil
	}
	return intervals{{first, v.Seq}}.minus(v.Holes)
}

// view reads appID's txn version and, with fencing, its holes.
func (w *Writer) view(s *Snapshot, appID string) TxnView {
	tok, seq := w.split(s.TxnVersion(appID))
	v := TxnView{Token: tok, Seq: seq}
	if !w.opts.Fencing {
		return v
	}
	for i := 0; i < MaxHoles; i++ {
		if iv, ok := decodeHole(s.TxnVersion(holeAppID(appID, i))); ok && iv[1] <= seq {
			v.Holes = append(v.Holes, iv)
		}
	}
	v.Holes = v.Holes.normalized()
	return v
}

// TxnView is appID's view in the cached snapshot.
func (w *Writer) TxnView(appID string) TxnView {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.view(w.t.snap, appID)
}

// nextHoles is the holes after committing versions vs on top of view, the
// txn version becoming seq: the old holes and the versions skipped over,
// minus vs; then those below the horizon, and the lowest beyond MaxHoles,
// are given up (returned as dropped).
func nextHoles(view TxnView, vs []int64, seq int64) (keep, dropped intervals) {
	holes := view.Holes
	if from := max(view.Seq, 0) + 1; from <= seq {
		holes = holes.union(intervals{{from, seq}})
	}
	holes = holes.minus(pointsOf(vs))
	for len(holes) > 0 {
		_, ok := encodeHole(holes[0])
		if ok && len(holes) <= MaxHoles && holes[0][1] >= seq-HoleHorizon {
			break
		}
		dropped = append(dropped, holes[0])
		holes = holes[1:]
	}
	return holes, dropped
}

// holeActions are the txn actions that turn appID's slots in s into holes
// (slots that already say so are left alone).
func holeActions(s *Snapshot, appID string, holes intervals, now int64) []Action {
	var acts []Action
	for i := 0; i < MaxHoles; i++ {
		want := int64(0)
		if i < len(holes) {
			want, _ = encodeHole(holes[i])
		}
		if max(s.TxnVersion(holeAppID(appID, i)), 0) == want {
			continue
		}
		acts = append(acts, Action{Txn: &Txn{AppID: holeAppID(appID, i), Version: want, LastUpdated: &now}})
	}
	return acts
}
