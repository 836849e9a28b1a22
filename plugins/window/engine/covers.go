package engine

// Covers: which offsets of each input partition a state accounts for.
//
// An input that commits its offsets only after the state was written (the
// commit barrier, state.sync: commit) tells the engine, before each flush,
// the offset it is about to commit for each partition (Cover). The state
// written then records it. A state read back whose covered offset of a
// partition is below the group's committed offset is older than the
// group's progress: the records in between are in no state, and going on
// would close windows without them. That happens when a write of a process
// that lost the topic lands after its successor's (a pause between the
// membership check and the write, or a store request in flight at a
// SIGKILL; the checkpoint cache has no compare-and-set).

// Cover records that the input is about to commit offset next of partition
// part (Position.Key): every record below it was consumed and is in this
// state. Offsets only grow.
func (e *Engine) Cover(part string, next int64) {
	if next > e.covers[part] {
		e.covers[part] = next
	}
}

// Covered is the commit offset of partition part that the state covers; ok
// is false when the state has none for it (a state of a version before
// covers, or a partition not committed while this state was kept): it
// cannot be judged then.
func (e *Engine) Covered(part string) (next int64, ok bool) {
	next, ok = e.covers[part]
	return next, ok
}
