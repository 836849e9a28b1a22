package franz

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group callbacks. franz-go calls them from its group goroutine, never
// concurrently with each other.

// onAssigned records ownership, so Poll can drop records fetched for a
// partition that was revoked in between. It also keeps the client for
// adjustOffsets, which franz-go calls next without one: the group can join
// before kgo.NewClient has returned to Connect, so c.cl may still be nil.
func (c *Consumer) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	c.noteMember()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groupCl = cl
	// The generation of the join that assigned these partitions: franz-go
	// stores it from the JoinGroup response, before this callback.
	_, gen := cl.GroupMetadata()
	for t, ps := range assigned {
		for _, p := range ps {
			tp := topicPartition{t, p}
			c.assigned[tp] = true
			c.gens[tp] = gen
			c.newEpochLocked(tp)
			delete(c.starts, tp)  // until adjustOffsets learns the commit
			delete(c.commits, tp) // until onFetched learns it
			c.reportAssignment(tp, true)
		}
	}
}

// onRevoked releases the acks held for the commit barrier, forgets the
// partitions, then commits what was acknowledged before that. Closing the trackers first means an ack that arrives after
// this point never marks an offset (the new owner re-reads those records),
// and chunks not yet handed downstream turn stale (Chunk.Live) so they are
// dropped instead of delivered twice.
func (c *Consumer) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	c.mu.Lock()
	abandon := c.abandon || c.conf.Txn != nil // offsets commit only in transactions
	c.mu.Unlock()
	// Held acks (commit_barrier.go) are released before the trackers close:
	// an ack between the two stays held and is forgotten, never committed.
	c.held.release.Lock()
	if !abandon {
		c.releaseHeldLocked(ctx, cl)
	}
	c.drop(cl, revoked)
	c.forgetHeld(revoked)
	c.held.release.Unlock()
	if !abandon {
		marked := cl.MarkedOffsets()
		if err := cl.CommitMarkedOffsets(ctx); err != nil {
			c.log.Warnf("kafka: commit on rebalance failed (records after the last commit will be re-delivered): %v", err)
		} else {
			if c.met != nil {
				c.met.Committed()
			}
			for t, ps := range marked {
				for p, o := range ps {
					c.barrier.Committed(t, p, o.Offset)
				}
			}
		}
	}
}

// onLost forgets the partitions without committing: they may already be
// someone else's.
func (c *Consumer) onLost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	c.held.release.Lock()
	defer c.held.release.Unlock()
	c.drop(cl, lost)
	c.forgetHeld(lost)
	if len(lost) > 0 {
		// The session was lost (this process was paused or cut off past its
		// session timeout, or franz-go gave the session up when the group
		// coordinator could not be reached, as during a broker restart):
		// another member may own these partitions and have written the
		// state since. The window's state is stale until it reloads the
		// checkpoint (member_check.go, window stale_state.go); with no other
		// member that costs the work since the last commit, redone exactly
		// (red team rt19a, 2 broker restarts).
		c.barrier.Fenced()
	}
}

// drop forgets partitions: their trackers are closed (late acks are ignored)
// and their pauses lifted.
func (c *Consumer) drop(cl *kgo.Client, parts map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resume := map[string][]int32{}
	for t, ps := range parts {
		for _, p := range ps {
			tp := topicPartition{t, p}
			if tr := c.trackers[tp]; tr != nil {
				tr.Close()
			}
			delete(c.trackers, tp)
			delete(c.assigned, tp)
			delete(c.next, tp)
			delete(c.pos, tp)
			delete(c.ends, tp)
			delete(c.last, tp)
			delete(c.epochs, tp)
			delete(c.gens, tp)
			delete(c.noticed, tp)
			delete(c.caughtUp, tp)
			if c.purge != nil {
				c.purge.forget(tp) // its next owner purges what it commits
			}
			c.reportAssignment(tp, false)
			if c.paused[tp] || c.idle[tp] {
				delete(c.paused, tp)
				delete(c.idle, tp)
				resume[t] = append(resume[t], p)
			}
		}
	}
	c.marksMu.Lock()
	for t, ps := range parts {
		for _, p := range ps {
			delete(c.marks, topicPartition{t, p})
		}
	}
	c.marksMu.Unlock()
	if len(c.paused) == 0 {
		// Idle pauses wait for a checkpoint_limit resume that cannot come
		// once no partition is paused by it (resume_idle.go).
		c.takeIdleLocked(resume)
	}
	if len(resume) > 0 {
		// Pauses outlive assignments in franz-go; lift them so the partition
		// is not stuck if it comes back to us.
		cl.ResumeFetchPartitions(resume)
		c.reportPausedLocked()
	}
}

// onAutoCommit counts the periodic commits, logs failed ones and purges
// below the offsets the broker accepted (purge_committed).
func (c *Consumer) onAutoCommit(cl *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil {
		c.log.Warnf("kafka: periodic offset commit failed (retried at the next commit_period): %v", err)
		return
	}
	if c.met != nil {
		c.met.Committed()
	}
	if accepted := acceptedOffsets(req, resp); len(accepted) > 0 {
		c.noteMember() // the broker took a commit of this member's generation
		for tp, off := range accepted {
			c.barrier.Committed(tp.topic, tp.partition, off)
		}
		if c.purge != nil {
			c.purgeCommitted(cl, accepted)
		}
	}
}

// acceptedOffsets returns the offsets of req the broker committed.
func acceptedOffsets(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse) map[topicPartition]int64 {
	ok := map[topicPartition]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				ok[topicPartition{t.Topic, p.Partition}] = true
			}
		}
	}
	offs := map[topicPartition]int64{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if tp := (topicPartition{t.Topic, p.Partition}); ok[tp] {
				offs[tp] = p.Offset
			}
		}
	}
	return offs
}

// Assigned returns the number of partitions the consumer owns now (group
// mode).
func (c *Consumer) Assigned() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.assigned)
}
