package franz

import "time"

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Lagging returns the partitions we own, not paused by checkpoint_limit,
// whose log is known to hold records not fetched yet (more than one offset
// ahead: the offset after a partition's last record may be a transaction
// marker, which is never delivered). A partition is known once it was
// fetched, or, in a consumer group, from the offsets listed at assignment.
func (c *Consumer) Lagging() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []TopicPartition
	for tp, end := range c.ends {
		pos, ok := c.pos[tp]
		if !ok || end-pos <= 1 || c.paused[tp] {
			continue
		}
		if c.conf.Group != "" && !c.assigned[tp] {
			continue
		}
		out = append(out, TopicPartition{tp.topic, tp.partition})
	}
	return out
}

// AtEnd reports whether the partition's last fetched record is the last
// one its log held when fetched (at most a transaction marker after it):
// nothing more can be read from it right now.
func (c *Consumer) AtEnd(topic string, partition int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atEndLocked(topicPartition{topic, partition})
}

// atEndLocked (c.mu held): the partition's position and log end are known
// and nothing lies between them (at most a transaction marker).
func (c *Consumer) atEndLocked(tp topicPartition) bool {
	end, known := c.ends[tp]
	pos, listed := c.pos[tp]
	return known && listed && end-pos <= 1
}

// Rounds gathers polled chunks into rounds, the unit poll scope batches: a
// round holds one fetch of every partition that has records waiting, so
// the partitions of a backlog advance together even when their leaders are
// different brokers, whose fetches reach separate polls. Spark's
// micro-batch takes the available offsets of every partition in the same way.
//
// A partition that contributes again before the round is complete goes to
// the first later round it is not in yet (a fast broker may deliver several
// fetches while a round waits for a slow one: each is a round of its own).
// A round is complete when every lagging partition is in it, or when the
// wait has run out (a slow broker delays a round by at most that long; the
// partitions it did not hear from are not waited for again until they
// deliver records). Not safe for concurrent use.
type Rounds struct {
	Wait time.Duration    // longest a round waits for lagging partitions
	Now  func() time.Time // clock; time.Now when nil

	queue           []round // queue[0] is being gathered; later ones hold fetches that came early
	deadline        time.Time
	gaveUp          map[TopicPartition]bool
	incompleteTaken int
}

// round is the chunks of at most one fetch per partition.
type round struct {
	chunks []Chunk
	in     map[TopicPartition]bool
}

func (r *Rounds) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Add stages the chunks of one poll.
func (r *Rounds) Add(chunks []Chunk) {
	if r.gaveUp == nil {
		r.gaveUp = map[TopicPartition]bool{}
	}
	// A poll's chunks of one partition come from one fetch: decide per
	// partition, so they stay together and in order.
	placed := map[TopicPartition]int{}
	for _, ch := range chunks {
		tp := TopicPartition{ch.Topic, ch.Partition}
		delete(r.gaveUp, tp)
		i, ok := placed[tp]
		if !ok {
			i = r.firstWithout(tp)
			placed[tp] = i
		}
		if i == len(r.queue) {
			r.queue = append(r.queue, round{in: map[TopicPartition]bool{}})
		}
		if i == 0 && len(r.queue[0].chunks) == 0 {
			r.deadline = r.now().Add(r.Wait)
		}
		r.queue[i].chunks = append(r.queue[i].chunks, ch)
		r.queue[i].in[tp] = true
	}
}

// firstWithout is the index of the first round tp has no fetch in
// (len(r.queue) if every queued round has one).
func (r *Rounds) firstWithout(tp TopicPartition) int {
	for i, rd := range r.queue {
		if !rd.in[tp] {
			return i
		}
	}
	return len(r.queue)
}

// Pending reports whether a round is being gathered, and until when.
func (r *Rounds) Pending() (deadline time.Time, ok bool) {
	return r.deadline, len(r.queue) > 0
}

// Take returns the current round if it is complete given the partitions
// that are lagging now, or if its wait ran out; the next round then starts.
func (r *Rounds) Take(lagging []TopicPartition) ([]Chunk, bool) {
	if len(r.queue) == 0 {
		return nil, false
	}
	cur := r.queue[0]
	var missing []TopicPartition
	for _, tp := range lagging {
		if !cur.in[tp] && !r.gaveUp[tp] {
			missing = append(missing, tp)
		}
	}
	if len(missing) > 0 && r.now().Before(r.deadline) {
		return nil, false
	}
	for _, tp := range missing {
		r.gaveUp[tp] = true
	}
	if len(missing) > 0 {
		r.incompleteTaken++
	}
	r.queue[0] = round{}
	r.queue = r.queue[1:]
	if len(r.queue) > 0 {
		r.deadline = r.now().Add(r.Wait)
	}
	return cur.chunks, true
}

// Incomplete counts the rounds taken because their wait ran out.
func (r *Rounds) Incomplete() int { return r.incompleteTaken }
