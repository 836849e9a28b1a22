package window

import (
	"context"
	"time"
)

// A partition's changelog state (stage partial's markers, stage merge's
// state with state.changelog) is read again while it is behind the record
// before the first one delivered, up to changelogTries times changelogPause
// apart: the cache does not wait for open transactions, and right after the
// previous owner's last commit its markers may not have reached the
// changelog yet (docs/scale-out.md). A source with offset gaps (transaction
// markers, compaction) waits the whole bound once per assignment, then goes
// on with the state it has.
const (
	changelogTries = 20
	changelogPause = 100 * time.Millisecond
)

func pauseChangelog(ctx context.Context) error {
	t := time.NewTimer(changelogPause)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readCaughtUp calls read until it reports a state that is not behind or
// changelogTries reads were made (the last read then stands), with wait
// between reads. It returns the number of reads and whether the last one
// was still behind.
func readCaughtUp(ctx context.Context, wait func(context.Context) error, read func() (behind bool, err error)) (tries int, behind bool, err error) {
	for tries = 1; ; tries++ {
		if behind, err = read(); err != nil || !behind || tries == changelogTries {
			return tries, behind, err
		}
		if err = wait(ctx); err != nil {
			return tries, behind, err
		}
	}
}
