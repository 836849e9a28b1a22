package main

import (
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// The Go runtime's own default (GOGC=100, no limit) lets a streaming job's
// heap reach twice its live data plus whatever a GC cycle overshoots, and
// keeps freed pages: config/rides.yaml peaked at 167-185 MB of RSS for 20-50 MB
// in use (docs/benchmarks.md). A soft limit makes the GC run earlier and return
// memory when the heap nears it, costing CPU only while it binds.
const (
	// memLimitFloor is the soft limit while the live heap is small (the
	// rides job's is ~45 MB while it drains a backlog): its Go memory stays
	// near it, so its RSS, with ~37 MB of mapped binary, stays under 150 MB.
	memLimitFloor int64 = 100 << 20
	// A job whose live heap outgrows the floor gets twice it instead: it
	// collects about as often as with GOGC=100 (Go's default), never
	// continuously as under a fixed limit its live heap has reached. 1.5×
	// (GOGC=50) cost a job with 250 000 open groups 1.4–1.6× the CPU for
	// 0.75–0.85× the peak RSS (docs/benchmarks.md, "Many keys"); below a 50
	// MiB live heap (the rides job: ~45 MiB) the floor decides either way.
	memLimitLiveFactor = 2.0
	// Under a container limit the job gets a share of it (automemlimit's
	// default); the Kubernetes manifests set GOMEMLIMIT themselves.
	memLimitCgroupShare = 0.9
	memLimitInterval    = time.Second
)

// memLimitFor is the soft limit for a live heap of live bytes.
func memLimitFor(live uint64) int64 {
	return max(memLimitFloor, int64(float64(live)*memLimitLiveFactor))
}

// cgroupMemLimit reads the container's memory limit (cgroup v2, then v1);
// ok is false when there is none ("max", or v1's near-2^63 "unlimited").
func cgroupMemLimit(read func(string) ([]byte, error)) (limit int64, ok bool) {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := read(p)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// memoryPolicy picks the soft memory limit: GOMEMLIMIT when set (any value,
// "off" included, is left to the runtime), else a share of the container's
// limit, else the adaptive floor. It returns a short name of what it chose and
// whether the limit must follow the live heap.
func memoryPolicy(lookup func(string) (string, bool), read func(string) ([]byte, error), set func(int64) int64) (string, bool) {
	if _, ok := lookup("GOMEMLIMIT"); ok {
		return "GOMEMLIMIT", false
	}
	if l, ok := cgroupMemLimit(read); ok {
		set(int64(float64(l) * memLimitCgroupShare))
		return "cgroup", false
	}
	set(memLimitFloor)
	return "adaptive", true
}

// gcPercentUnderLimit is GOGC while a soft memory limit is in force and GOGC
// is unset. Under the limit the heap cannot grow past it whatever GOGC says,
// so the GC need not also run each time the heap doubles: for the rides job
// (~45 MB live, 100 MiB floor) GOGC=100 collects at ~90 MB, well before the
// limit, and a higher GOGC lets the limit alone decide. Measured at 10 M
// rides: 0.92× the CPU per ride for the same peak RSS (docs/benchmarks.md,
// "Third round"). Without a limit (GOMEMLIMIT=off) the runtime's GOGC=100
// stays: 400 would let the heap reach 5× the live data.
const gcPercentUnderLimit = 400

// gcPolicy sets GOGC to gcPercentUnderLimit when GOGC is unset and limit (the
// soft limit in force, math.MaxInt64 for none) is a real limit. It reports
// whether it did.
func gcPolicy(lookup func(string) (string, bool), limit int64, set func(int) int) bool {
	if _, ok := lookup("GOGC"); ok || limit == math.MaxInt64 {
		return false
	}
	set(gcPercentUnderLimit)
	return true
}

// setMemoryLimit applies memoryPolicy and gcPolicy; when adaptive, a
// goroutine raises or lowers the limit every second from the live heap of the
// last GC.
func setMemoryLimit() {
	_, adaptive := memoryPolicy(os.LookupEnv, os.ReadFile, debug.SetMemoryLimit)
	gcPolicy(os.LookupEnv, debug.SetMemoryLimit(-1), debug.SetGCPercent)
	if !adaptive {
		return
	}
	go func() {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for range time.Tick(memLimitInterval) {
			metrics.Read(s)
			if s[0].Value.Kind() == metrics.KindUint64 {
				debug.SetMemoryLimit(memLimitFor(s[0].Value.Uint64()))
			}
		}
	}()
}
