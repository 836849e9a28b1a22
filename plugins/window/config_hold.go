package window

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A batch that cannot be applied because the job is configured
// inconsistently is held, not failed, as the split guard holds and for the
// same reason: a failed batch is dead-lettered by the configs and its
// offsets committed, so rows that are not bad would leave the table
// (red team of session 19: a stage 2 that could not restore a state written
// under another config emptied the table into the dead-letter topic). Held:
// - in stage merge, a batch with a partial of a stage 1 configured otherwise
//   (engine.ErrOtherStageConfig): nothing can change it, so it waits for
//   the process to stop; run every replica with the same window config;
// - in stage merge, a bundle split over another number of internal
//   partitions than the internal topic has (errShardCount, shard_check.go):
//   the source topic grew while the job ran;
// - a state that does not restore (written under another window config,
//   or damaged): read again every changelogPause, since its owner may
//   rewrite it.
// Logged at ERROR at most once per configLogEvery, counted in
// window_config_held_batches_total.

// configLogEvery limits the log to one line per this long while held.
const configLogEvery = time.Minute

// holdForConfig holds a batch that cause keeps from being applied. With
// retry nil it waits for ctx to end (shutdown) and returns an error; else it
// waits for retry (a pause, or ctx's end) and returns nil so the caller can
// try again. tries counts the calls for this batch: it is counted once.
func (p *processor) holdForConfig(ctx context.Context, cause error, retry func(context.Context) error, tries int) error {
	if tries == 0 {
		p.m.configHeld.Incr(1)
	}
	p.logConfigHold(cause)
	if retry == nil {
		<-ctx.Done()
		return fmt.Errorf("tumbling_window: batch held (%w): %w", cause, ctx.Err())
	}
	if err := retry(ctx); err != nil {
		return fmt.Errorf("tumbling_window: batch held (%w): %w", cause, err)
	}
	return nil
}

func (p *processor) logConfigHold(cause error) {
	until := "until the window configs agree (every replica and both stages the same size, offset, watermark.delay, group_by and aggregates) and the process restarts"
	if errors.Is(cause, errShardCount) {
		until = "until the job is stopped and migrated"
	}
	if ok, n := p.cfgHold.Note(p.now(), configLogEvery); ok {
		p.log.Errorf("tumbling_window: %s; holding the batch, nothing applied or committed, %s (%d holds since the last such line)", strings.TrimPrefix(cause.Error(), "tumbling_window: "), until, n)
	}
}

// unrestorable is a state that Restore refused.
type unrestorable struct{ err error }

func (u unrestorable) Error() string { return u.err.Error() }
func (u unrestorable) Unwrap() error { return u.err }
