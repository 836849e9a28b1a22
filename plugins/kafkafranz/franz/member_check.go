package franz

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/commitbarrier"
)

// Membership proof before the commit barrier's flush.
//
// A process paused past its session timeout (SIGSTOP, a frozen VM, a long
// GC pause) has lost its partitions to another member, but it does not know
// until its next heartbeat or commit fails. Meanwhile its periodic release
// (or the revoke at its shutdown) would flush the barrier: the window writes
// its in-memory state, older than the new owner's, over the shared
// checkpoint, and a later start restores it with the group's offsets past
// it (red team of session 18: rows lost). So a flush that comes long after
// the last proof that this consumer is still a member asks the group
// coordinator first, and is not made if the member is gone.

// ErrNotMember is returned when the group no longer has this consumer's
// member: its partitions are someone else's.
var ErrNotMember = fmt.Errorf("this consumer is no longer a member of its group (it was paused or cut off past its session timeout; it rejoins): %w", commitbarrier.ErrFenced)

// noteMember records a proof that this consumer is a member now (an
// assignment, a commit the broker accepted).
func (c *Consumer) noteMember() {
	c.proofMu.Lock()
	c.proof = time.Now()
	c.proofMu.Unlock()
}

// memberProofAge is how old the last proof may be before a flush asks the
// coordinator: half the session timeout (a member that heartbeats is proven
// at least that often by franz-go's own commits and heartbeats).
func (c *Consumer) memberProofAge() time.Duration {
	if testMemberProofAge > 0 {
		return testMemberProofAge
	}
	s := c.conf.SessionTimeout
	if s <= 0 {
		s = 45 * time.Second // franz-go's default
	}
	return s / 2
}

// testMemberProofAge, set by tests, replaces memberProofAge.
var testMemberProofAge time.Duration

// confirmMember returns nil when this consumer is still a member of its
// group, ErrNotMember when it is not, or the error that kept it from
// knowing (the flush then waits for the next release).
func (c *Consumer) confirmMember(ctx context.Context, cl *kgo.Client) error {
	if c.conf.Group == "" {
		return nil
	}
	c.proofMu.Lock()
	age := time.Since(c.proof)
	c.proofMu.Unlock()
	if age < c.memberProofAge() {
		return nil
	}
	// A consumer that owns no partition covers none of the state: another
	// group input of the process that idles, has not joined yet or stands
	// by (group_balancer: single_owner) must not fence the window, which
	// stalled a config with a second group input for good. A session lost
	// with partitions owned fences through onLost.
	c.mu.Lock()
	owns := len(c.assigned) > 0
	c.mu.Unlock()
	if !owns {
		return nil
	}
	member, _ := cl.GroupMetadata()
	if member == "" {
		return ErrNotMember
	}
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, c.conf.Group)
	if err != nil {
		return err
	}
	g, ok := groups[c.conf.Group]
	if !ok {
		return ErrNotMember
	}
	if g.Err != nil {
		return g.Err
	}
	for _, m := range g.Members {
		if m.MemberID == member {
			c.noteMember()
			return nil
		}
	}
	return ErrNotMember
}

// confirmForBarrier is this consumer's commitbarrier.OnConfirm check, for
// the writes a processor makes outside the consumer's own flush (a batch
// that emits writes its state before it is released).
func (c *Consumer) confirmForBarrier(ctx context.Context) error {
	cl := c.client()
	if cl == nil {
		return nil
	}
	return c.confirmMember(ctx, cl)
}
