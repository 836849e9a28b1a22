package engine

// Window bounds and unit conversions. Event times are epoch microseconds
// (Spark's TIMESTAMP precision); the watermark is epoch milliseconds, as in
// Spark, where an event time enters the watermark as µs/1000 truncated.

// windowStart returns the start (µs) of the tumbling window [start, start+size)
// that holds ts. The remainder is taken with floor semantics so that pre-1970
// (negative) times fall in the window below them, as Spark's
// TimeWindowResolution does.
func windowStart(ts, size, offset int64) int64 {
	r := (ts - offset) % size
	if r < 0 {
		r += size
	}
	return ts - r
}

// microsToWatermarkMs converts an event time to the millisecond value the
// watermark is computed from. Go's integer division truncates toward zero, like
// the JVM's, so pre-1970 sub-millisecond times round the same way as Spark's.
func microsToWatermarkMs(ts int64) int64 { return ts / 1000 }

// closedBy reports whether a window ending at endMicros is at or below the
// watermark wmMs (inclusive, Spark's `window.end <= watermark`).
func closedBy(endMicros, wmMs int64) bool {
	if wmMs == noWatermark {
		return false
	}
	return endMicros <= wmMs*1000
}
