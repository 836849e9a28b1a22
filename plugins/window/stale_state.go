package window

import (
	"context"
	"errors"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

// A process whose consumer finds it is no longer a member of its group
// (paused past its session timeout while another process took the topic
// over) must not write its state: it is older than the state the new owner
// wrote since, and a later start would restore it with the group's offsets
// past it and lose the rows of the windows the new owner had open, silently
// (red team of session 18). The consumer reports the fence through the commit
// barrier (kafka_franz confirms its membership before a flush made long
// after its last proof); from then on the state is stale: every write is
// refused, so no offset commit passes it either, until the process owns the
// topic again and reloads the checkpoint (reloadIfTakenOver), which the
// rejoin that follows brings. A batch applied to the stale state is dropped
// without output: its records are read again from the committed offsets by
// whoever owns them now.

// errStale refuses a write of a stale state.
var errStale = errors.New("tumbling_window: state not written: this process lost its consumer group session (paused past its session timeout, or cut off from its group coordinator, e.g. by a broker restart) and another process may have written the checkpoint since; it reloads the checkpoint once it owns the topic again and goes on from the committed offsets")

// fenced is the commit barrier's OnFenced listener.
func (p *processor) fenced() {
	if !p.stale.Swap(true) {
		p.log.Warnf("%v", errStale)
		p.m.staleFences.Incr(1)
	}
}

// dropStale says whether a batch whose state could not be made durable was
// applied to a stale state, and so is dropped (no rows, no dead letters, no
// emissions): the process is not a member of its group any more, and the
// records come again from the committed offsets to their owner.
func dropStale(ctx context.Context, err error) bool {
	return errors.Is(err, errStale) && ctx.Err() == nil
}

// fencedNow says whether a batch that writes no state but passes messages on
// (dead letters) must be dropped: the state is stale, or a consumer of the
// process is found no longer a member (asked only when its last proof of
// membership is old). A paused process that resumed sent such a batch's dead
// letters before its client noticed it had lost the topic, and the new owner
// sent them again (red team rt20a: 64 twice).
// It is writeNewest's check too: only a definite "not a member" counts, a
// coordinator out of reach leaves the batch as it was.
func (p *processor) fencedNow(ctx context.Context) bool {
	return p.stale.Load() || p.unregister != nil && errors.Is(commitbarrier.Process.ConfirmFor(ctx, p.readTopics()), commitbarrier.ErrFenced)
}

// readTopics is what fencedNow asks the consumers of: the topics whose
// records this processor keeps state for (stage local), or nil, every
// consumer of the process (stage full).
func (p *processor) readTopics() []string {
	if p.keptTopics == nil {
		return nil
	}
	return p.keptTopics()
}
