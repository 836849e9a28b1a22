package engine

// Per-row lookups, done once per partition per batch. A batch's rows come
// from a few partitions, interleaved row by row (the input orders a poll by
// position across partitions), and often for the same window; keeping each
// partition's applied offsets, watermark input and topic size at hand for the
// whole batch, and the window's groups for a run of its rows, saves most of
// the map lookups a row cost. Nothing here is state: a cursor lives for one
// Process call and writes back what it changed.

// partRun is a partition the batch has rows from.
type partRun struct {
	key     string         // Position.Key, "" for rows without a position
	applied appliedOffsets // e.applied[key], written back by leave if dirty
	dirty   bool
	p       *partition // e.wm.Parts[key], nil while it has none
	topicN  int32      // e.wm.Topics of the run's topic
}

// partRuns are the partitions of the rows processed so far in a batch, the
// one of the last row first to be checked.
type partRuns struct {
	runs []partRun
	cur  int // index of the last row's run in runs
}

// maxRuns bounds partRuns (searched linearly): a batch from more partitions
// writes its runs back and starts again.
const maxRuns = 32

// enter returns the run of partition key of topic. The pointer is valid until
// the next enter or leaveAll.
func (e *Engine) enter(rs *partRuns, key, topic string, perPart bool) *partRun {
	if rs.cur < len(rs.runs) && rs.runs[rs.cur].key == key {
		return &rs.runs[rs.cur]
	}
	for i := range rs.runs {
		if rs.runs[i].key == key {
			rs.cur = i
			return &rs.runs[i]
		}
	}
	if len(rs.runs) >= maxRuns {
		e.leaveAll(rs)
	}
	run := partRun{key: key, applied: e.applied[key]}
	if perPart {
		run.p, run.topicN = e.wm.Parts[key], e.wm.Topics[topic]
	}
	rs.runs = append(rs.runs, run)
	rs.cur = len(rs.runs) - 1
	return &rs.runs[rs.cur]
}

// leaveAll writes every run's applied offsets back and forgets the runs, so
// that the next enter reads the partition's entries afresh.
func (e *Engine) leaveAll(rs *partRuns) {
	for i := range rs.runs {
		if r := &rs.runs[i]; r.dirty {
			e.applied[r.key] = r.applied
		}
	}
	rs.runs, rs.cur = rs.runs[:0], 0
}

// groupCursor is the (window, key) of the rows being aggregated.
type groupCursor struct {
	start int64
	keys  map[string]*group // e.open[start], nil before the first row
	key   string
	g     *group // keys[key], nil before the first row of a window
}

// group returns the open group of (start, key), creating it.
func (e *Engine) group(c *groupCursor, start int64, key string) *group {
	if c.keys == nil || c.start != start {
		e.touched(start) // the caller changes a group of it
		keys := e.open[start]
		if keys == nil {
			keys = map[string]*group{}
			e.open[start] = keys
		}
		c.start, c.keys, c.g = start, keys, nil
	}
	if c.g == nil || c.key != key {
		g := c.keys[key]
		if g == nil {
			g = &group{Aggs: make([]acc, len(e.cfg.Aggregates))}
			c.keys[key] = g
			e.nOpen++
		}
		c.key, c.g = key, g
	}
	return c.g
}
