package main

import (
	"errors"
	"math"
	"os"
	"testing"
)

func TestMemLimitForKeepsTheFloorUntilTheLiveHeapNeedsMore(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, memLimitFloor},
		{45 << 20, memLimitFloor}, // the rides job draining a backlog: 2 × 45 MiB < 100 MiB
		{100 << 20, 200 << 20},    // a larger job: twice its live heap, whatever the floor
		{1 << 30, 2 << 30},
	} {
		if got := memLimitFor(c.live); got != c.want {
			t.Errorf("memLimitFor(%d MiB) = %d MiB, want %d MiB", c.live>>20, got>>20, c.want>>20)
		}
	}
}

func TestCgroupMemLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if v, ok := m[p]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	for _, c := range []struct {
		name   string
		files  map[string]string
		want   int64
		wantOK bool
	}{
		{"v2 limit", map[string]string{"/sys/fs/cgroup/memory.max": "536870912\n"}, 512 << 20, true},
		{"v2 max", map[string]string{"/sys/fs/cgroup/memory.max": "max\n"}, 0, false},
		{"v1 limit", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n"}, 1 << 30, true},
		{"v1 unlimited", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0, false},
		{"no cgroup files", map[string]string{}, 0, false},
	} {
		got, ok := cgroupMemLimit(files(c.files))
		if got != c.want || ok != c.wantOK {
			t.Errorf("%s: got %d, %v; want %d, %v", c.name, got, ok, c.want, c.wantOK)
		}
	}
}

func TestMemoryPolicyLetsGOMEMLIMITWin(t *testing.T) {
	cgroup := func(p string) ([]byte, error) {
		if p == "/sys/fs/cgroup/memory.max" {
			return []byte("1073741824"), nil
		}
		return nil, errors.New("none")
	}
	none := func(string) ([]byte, error) { return nil, errors.New("none") }
	for _, c := range []struct {
		name         string
		env          map[string]string
		read         func(string) ([]byte, error)
		wantMode     string
		wantAdaptive bool
		wantSet      int64 // -1: not set
	}{
		{"GOMEMLIMIT set: the runtime's", map[string]string{"GOMEMLIMIT": "300MiB"}, cgroup, "GOMEMLIMIT", false, -1},
		{"GOMEMLIMIT=off: no limit", map[string]string{"GOMEMLIMIT": "off"}, none, "GOMEMLIMIT", false, -1},
		{"container limit: 90 % of it", map[string]string{}, cgroup, "cgroup", false, 966367641},
		{"nothing: the adaptive floor", map[string]string{}, none, "adaptive", true, memLimitFloor},
	} {
		set := int64(-1)
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		mode, adaptive := memoryPolicy(lookup, c.read, func(l int64) int64 { set = l; return 0 })
		if mode != c.wantMode || adaptive != c.wantAdaptive || set != c.wantSet {
			t.Errorf("%s: got %s, %v, limit %d; want %s, %v, %d", c.name, mode, adaptive, set, c.wantMode, c.wantAdaptive, c.wantSet)
		}
	}
}

func TestGCPolicyRaisesGOGCOnlyUnderALimitAndWhenUnset(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   map[string]string
		limit int64
		want  int // -1: GOGC left alone
	}{
		{"adaptive or container limit, GOGC unset", map[string]string{}, memLimitFloor, gcPercentUnderLimit},
		{"GOMEMLIMIT set, GOGC unset", map[string]string{"GOMEMLIMIT": "300MiB"}, 300 << 20, gcPercentUnderLimit},
		{"GOGC set: the user's", map[string]string{"GOGC": "100"}, memLimitFloor, -1},
		{"GOGC=off: the user's", map[string]string{"GOGC": "off"}, memLimitFloor, -1},
		{"no limit (GOMEMLIMIT=off): the runtime's 100", map[string]string{"GOMEMLIMIT": "off"}, math.MaxInt64, -1},
	} {
		got := -1
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		did := gcPolicy(lookup, c.limit, func(p int) int { got = p; return 100 })
		if got != c.want || did != (c.want != -1) {
			t.Errorf("%s: GOGC set to %d (%v), want %d", c.name, got, did, c.want)
		}
	}
}
