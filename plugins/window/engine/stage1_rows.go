package engine

// The per-row steps both stage-1 engines share (PartialEngine,
// LocalEngine): a row's progress of its source partition, the partition's
// own lateness rule, and the fold into its (window, key).

// observeRow makes r progress of the source partition whose marker is m
// (every row, late or not) and says whether r is late against the
// partition's progress before it (its window end <= max − delay).
func observeRow(m *Marker, r *Row, end, delayMs int64) (late bool) {
	late = m.MaxMs != noWatermark && closedBy(end, m.MaxMs-delayMs)
	m.MaxMs = max(m.MaxMs, microsToWatermarkMs(r.TimeUs))
	m.Offset = r.Pos.Offset
	m.Partitions = max(m.Partitions, r.Partitions)
	m.Idle = false
	return late
}

// foldRow adds r to its group of the window starting at start.
func foldRow(windows map[int64]map[string]*group, start int64, r *Row, aggs []AggSpec) {
	keys := windows[start]
	if keys == nil {
		keys = map[string]*group{}
		windows[start] = keys
	}
	g := keys[r.Key]
	if g == nil {
		g = &group{Aggs: make([]acc, len(aggs))}
		keys[r.Key] = g
	}
	g.Rows++
	for j, spec := range aggs {
		if spec.HasValue && j < len(r.Values) {
			g.Aggs[j].add(r.Values[j])
		}
	}
}
