package realkafka

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// logCommit is one commit of the Delta log, as the fencing checks read it.
type logCommit struct {
	version int64
	writer  string           // commitInfo.writerId
	millis  int64            // commitInfo.timestamp
	adds    int              // add actions (0: a txn-only fence commit)
	tokens  map[string]int64 // appId -> fencing token of its txn (version >> 32)
}

// readLog reads every JSON commit of the table after version 0, in order.
func readLog(t *testing.T, table string) []logCommit {
	t.Helper()
	var out []logCommit
	for v := int64(1); ; v++ {
		f, err := os.Open(filepath.Join(table, "_delta_log", fmt.Sprintf("%020d.json", v)))
		if errors.Is(err, fs.ErrNotExist) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		c := logCommit{version: v, tokens: map[string]int64{}}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var a struct {
				CommitInfo map[string]any `json:"commitInfo"`
				Add        *struct{}      `json:"add"`
				Txn        *struct {
					AppID   string `json:"appId"`
					Version int64  `json:"version"`
				} `json:"txn"`
			}
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatalf("version %d: %v", v, err)
			}
			switch {
			case a.CommitInfo != nil:
				c.writer, _ = a.CommitInfo["writerId"].(string)
				ts, _ := a.CommitInfo["timestamp"].(float64)
				c.millis = int64(ts)
			case a.Add != nil:
				c.adds++
			case a.Txn != nil && !strings.Contains(a.Txn.AppID, "#hole"): // not a hole slot (delta/holes.go)
				c.tokens[a.Txn.AppID] = a.Txn.Version >> 32
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// tokensUpTo is the highest token of each appId in the commits up to
// version v.
func tokensUpTo(log []logCommit, v int64) map[string]int64 {
	out := map[string]int64{}
	for _, c := range log {
		if c.version > v {
			break
		}
		for app, tok := range c.tokens {
			out[app] = max(out[app], tok)
		}
	}
	return out
}

// mergePartitions is what the member with instance id id owns of the
// internal topic in the stage-2 group (while it is still a member).
func mergePartitions(t *testing.T, adm *kadm.Client, group, id string) []int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := adm.DescribeGroups(ctx, group+"-merge")
	if err != nil {
		t.Fatal(err)
	}
	var ps []int32
	for _, m := range gs[group+"-merge"].Members {
		if m.InstanceID == nil || *m.InstanceID != id {
			continue
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range a.Topics {
				if tp.Topic == group+"-repartition" {
					ps = append(ps, tp.Partitions...)
				}
			}
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// waitFenced waits until, for every internal partition q in qs, another
// writer than zombie committed rides_agg-<q> with a token above every token
// of it up to version stopped: q's new owner took q over in Delta.
func waitFenced(t *testing.T, j *ridesJob, reps []*replica, zombie string, qs []int32, stopped int64, d time.Duration) []logCommit {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		log := readLog(t, j.table)
		before := tokensUpTo(log, stopped)
		var fences []logCommit
		missing := 0
		for _, q := range qs {
			app := fmt.Sprintf("rides_agg-%d", q)
			found := false
			for _, c := range log {
				if tok, ok := c.tokens[app]; ok && c.version > stopped && c.writer != zombie && tok > before[app] {
					fences, found = append(fences, c), true
					break
				}
			}
			if !found {
				missing++
			}
		}
		if missing == 0 {
			return fences
		}
		if time.Now().After(deadline) {
			failReplicas(t, reps, "%d of internal partitions %v not taken over in Delta (no commit with a higher token) within %v", missing, qs, d)
		}
		time.Sleep(500 * time.Millisecond) // polling the other processes' table
	}
}

// checkNoZombieCommit fails if zombie made a commit after version resumed
// whose token for an appId is not above every token of that appId up to
// resumed: a commit made with a generation from before its pause. Commits
// it makes after rejoining the groups carry newer generations and pass.
func checkNoZombieCommit(t *testing.T, log []logCommit, zombie string, resumed int64, resumedAt time.Time) (after int) {
	t.Helper()
	before := tokensUpTo(log, resumed)
	for _, c := range log {
		if c.version <= resumed || c.writer != zombie {
			continue
		}
		after++
		for app, tok := range c.tokens {
			if tok <= before[app] {
				t.Errorf("%s committed version %d (commitInfo.timestamp %s, resumed at %s) with %s token %d, not above the %d the table held when it was resumed: a zombie commit",
					zombie, c.version, time.UnixMilli(c.millis).UTC().Format(time.RFC3339Nano), resumedAt.UTC().Format(time.RFC3339Nano), app, tok, before[app])
			}
		}
	}
	return after
}
