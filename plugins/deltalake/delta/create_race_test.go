package delta

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// lateListing hides the log from its first hidden listings, as an S3 server
// does that refuses a conditional PUT (412) a moment before it lists the
// object that won.
type lateListing struct {
	objstore.Store
	hidden int
}

func (l *lateListing) List(ctx context.Context, prefix, startAfter string) ([]objstore.ObjectInfo, error) {
	if l.hidden > 0 && strings.HasPrefix(prefix, logDir) {
		l.hidden--
		return nil, nil
	}
	return l.Store.List(ctx, prefix, startAfter)
}

func TestLosingTheCreationRaceWaitsForTheWinnersVersionZero(t *testing.T) {
	ctx := context.Background()
	mem := objstore.Memory("t")
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	cfg := TableConfig{Schema: ridesSchema()}
	if _, err := CreateOrOpen(ctx, mem, cfg, clock.Now); err != nil { // the winner
		t.Fatal(err)
	}
	late := &lateListing{Store: mem, hidden: 3}
	tbl, err := CreateOrOpen(ctx, late, cfg, clock.Now)
	if err != nil {
		t.Fatalf("the loser of the creation race: %v", err)
	}
	if v := tbl.snap.Version; v != 0 || late.hidden != 0 {
		t.Fatalf("opened version %d with %d listings still hidden; want version 0 once listed", v, late.hidden)
	}
	if keys, _ := mem.List(ctx, logDir, ""); len(keys) != 1 {
		t.Fatalf("%d log objects, want the winner's version 0 alone", len(keys))
	}
}
