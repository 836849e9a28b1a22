package franz

import "github.com/twmb/franz-go/pkg/kgo"

// Resuming a partition at once, at the tail of a backlog.
//
// A partition with checkpoint_limit records in flight is paused, and franz-go
// leaves it out of its fetches. When every other partition is read to its
// end, the next fetch holds only caught-up partitions, and the broker keeps
// it until fetch_max_wait (or new data). franz-go sends one fetch at a time,
// so the paused partition, resumed by its acks meanwhile, waited for that
// fetch to come back empty: the end of a backlog, left on one or two
// partitions, went at one checkpoint_limit per fetch_max_wait (config/
// rides.yaml: 8 192 records per 250 ms; with the 5 s default, per 5 s).
//
// So while some partition is paused by checkpoint_limit and every other one
// we fetch is read to its end, those are paused too (idle): no fetch is held,
// and the next resume sends a fetch at once, with all of them. Records
// produced to an idle partition meanwhile wait at most until that resume,
// which comes with the acks of records already in flight.

// pauseIdleLocked (c.mu held) pauses the caught-up partitions while another
// waits at checkpoint_limit; see above.
func (c *Consumer) pauseIdleLocked(cl *kgo.Client) {
	if len(c.paused) == 0 {
		return
	}
	var idle []topicPartition
	for tp := range c.fetchedLocked() {
		if c.paused[tp] || c.idle[tp] {
			continue
		}
		if !c.atEndLocked(tp) {
			return // it may have records to fetch: the next fetch returns at once
		}
		idle = append(idle, tp)
	}
	if len(idle) == 0 {
		return
	}
	pause := map[string][]int32{}
	for _, tp := range idle {
		c.idle[tp] = true
		pause[tp.topic] = append(pause[tp.topic], tp.partition)
	}
	cl.PauseFetchPartitions(pause)
}

// fetchedLocked is the partitions franz-go fetches for us: in a group the
// ones assigned, else the ones whose end we know.
func (c *Consumer) fetchedLocked() map[topicPartition]bool {
	if c.conf.Group != "" {
		return c.assigned
	}
	known := make(map[topicPartition]bool, len(c.ends))
	for tp := range c.ends {
		known[tp] = true
	}
	return known
}

// takeIdleLocked (c.mu held) adds the idle partitions to resume and forgets
// them: a resume of any partition resumes them all.
func (c *Consumer) takeIdleLocked(resume map[string][]int32) {
	for tp := range c.idle {
		resume[tp.topic] = append(resume[tp.topic], tp.partition)
	}
	clear(c.idle)
}
