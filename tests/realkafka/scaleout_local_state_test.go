package realkafka

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/plugins/checkpoint/store"
)

// localStateKeep bounds the states of one source partition left in the
// checkpoint after the replicas stopped: the one of the group's commit, the
// few written after the last commit a flush saw accepted, and one per crash
// or lost assignment between a write and its commit. Without the deletes
// there is one per commit (about one a second per partition).
const localStateKeep = 8

// checkLocalState checks config/rides.yaml's stage-1 states
// in the shared checkpoint directory: for every source partition, the state
// named after the group's committed offset is there (the one a next owner
// loads), and the states below the accepted commits were deleted.
func checkLocalState(t *testing.T, adm *kadm.Client, checkpoint, group, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	for p := 0; p < partitions; p++ {
		o, ok := offs.Lookup(topic, int32(p))
		if !ok {
			t.Errorf("%s has no commit of %s/%d", group, topic, p)
			continue
		}
		prefix := store.ObjectKey(fmt.Sprintf("rides_agg-%s-%d@", topic, p))
		want := store.ObjectKey(fmt.Sprintf("rides_agg-%s-%d@%d", topic, p, o.At))
		n, found := 0, false
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				n++
				found = found || e.Name() == want
			}
		}
		if !found {
			t.Errorf("partition %d: no state named after the group's commit at %d in %s", p, o.At, filepath.Base(checkpoint))
		}
		if n > localStateKeep {
			t.Errorf("partition %d: %d states left, want at most %d (the superseded ones are deleted)", p, n, localStateKeep)
		}
		t.Logf("partition %d: %d states left, the group's commit at %d among them: %v", p, n, o.At, found)
	}
}
