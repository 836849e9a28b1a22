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

// Rounds gathers polled chunks into rounds, the unit poll scope batches: a
// round holds one fetch of every partition that has records waiting, so
// the partitions of a backlog advance together even when their leaders are
// different brokers, whose fetches reach separate polls. Spark's
// micro-batch takes the available offsets of every partition in the same way.
//
// A partition that contributes again before the round is complete goes to
// the next round. A round is complete when every lagging partition is in it,
// or when the wait has run out (a slow broker delays a round by at most that
// long; the partitions it did not hear from are not waited for again until
// they deliver records). Not safe for concurrent use.
type Rounds struct {
	Wait time.Duration    // longest a round waits for lagging partitions
	Now  func() time.Time // clock; time.Now when nil

	cur, next       []Chunk
	inCur, inNext   map[TopicPartition]bool
	deadline        time.Time
	gaveUp          map[TopicPartition]bool
	incompleteTaken int
}

func (r *Rounds) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Add stages the chunks of one poll.
func (r *Rounds) Add(chunks []Chunk) {
	if r.inCur == nil {
		r.inCur, r.inNext, r.gaveUp = map[TopicPartition]bool{}, map[TopicPartition]bool{}, map[TopicPartition]bool{}
	}
	// A poll's chunks of one partition come from one fetch: decide per
	// partition, so they stay together and in order.
	already := map[TopicPartition]bool{}
	for tp := range r.inCur {
		already[tp] = true
	}
	for _, ch := range chunks {
		tp := TopicPartition{ch.Topic, ch.Partition}
		delete(r.gaveUp, tp)
		if already[tp] || r.inNext[tp] {
			r.next = append(r.next, ch)
			r.inNext[tp] = true
			continue
		}
		if len(r.cur) == 0 {
			r.deadline = r.now().Add(r.Wait)
		}
		r.cur = append(r.cur, ch)
		r.inCur[tp] = true
	}
}

// Pending reports whether a round is being gathered, and until when.
func (r *Rounds) Pending() (deadline time.Time, ok bool) {
	return r.deadline, len(r.cur) > 0
}

// Take returns the current round if it is complete given the partitions
// that are lagging now, or if its wait ran out; the next round then starts.
func (r *Rounds) Take(lagging []TopicPartition) ([]Chunk, bool) {
	if len(r.cur) == 0 {
		return nil, false
	}
	var missing []TopicPartition
	for _, tp := range lagging {
		if !r.inCur[tp] && !r.gaveUp[tp] {
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
	round := r.cur
	r.cur, r.next = r.next, nil
	r.inCur, r.inNext = r.inNext, map[TopicPartition]bool{}
	if len(r.cur) > 0 {
		r.deadline = r.now().Add(r.Wait)
	}
	return round, true
}

// Incomplete counts the rounds taken because their wait ran out.
func (r *Rounds) Incomplete() int { return r.incompleteTaken }
