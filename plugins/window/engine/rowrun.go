package engine

// Per-row lookups, done once per run of rows. A batch's rows come in long runs
// from one partition (a fetch is per partition), and often for the same
// window; looking the partition's applied offsets, watermark input and topic
// size up once per run, and the window's groups once per run of its rows,
// saves most of the map lookups a row cost. Nothing here is state: a cursor
// lives for one Process call and writes back what it changed.

// partRun is the partition of the rows being processed.
type partRun struct {
	key     string // Position.Key, "" for rows without a position
	entered bool
	applied appliedOffsets // e.applied[key], written back by leave if dirty
	dirty   bool
	p       *partition // e.wm.Parts[key], nil while it has none
	topicN  int32      // e.wm.Topics of the run's topic
}

// enter makes run the partition key of topic, leaving the previous one. The
// watermark's entries are only per_partition's.
func (e *Engine) enter(run *partRun, key, topic string, perPart bool) {
	if run.entered && run.key == key {
		return
	}
	e.leave(run)
	*run = partRun{key: key, entered: true, applied: e.applied[key]}
	if perPart {
		run.p, run.topicN = e.wm.Parts[key], e.wm.Topics[topic]
	}
}

// leave writes the run's applied offsets back.
func (e *Engine) leave(run *partRun) {
	if run.dirty {
		e.applied[run.key] = run.applied
		run.dirty = false
	}
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
