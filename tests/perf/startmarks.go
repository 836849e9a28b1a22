package main

import (
	"fmt"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// startMarks splits a drain's start-up (seen every 0.5 s, so ±0.5 s): when
// /metrics first answered, the first ride was read, a scale-out stage 2 read
// its first committed record, and the first row reached Delta.
type startMarks struct {
	metrics, firstRide, firstMerge, firstRow time.Duration
}

func (s *startMarks) see(m map[string]*dto.MetricFamily, rides float64, at time.Duration) {
	mark := func(d *time.Duration, ok bool) {
		if *d == 0 && ok {
			*d = at
		}
	}
	mark(&s.metrics, true)
	mark(&s.firstRide, rides > 0)
	mark(&s.firstMerge, mergeInput(m) > 0)
	mark(&s.firstRow, sum(m, "delta_rows_written_total") > 0)
}

func (s *startMarks) lines() []string {
	var out []string
	for _, x := range []struct {
		what string
		d    time.Duration
	}{{"/metrics up", s.metrics}, {"first ride in", s.firstRide}, {"stage 2's first record", s.firstMerge}, {"first Delta row", s.firstRow}} {
		if x.d > 0 {
			out = append(out, fmt.Sprintf("%s at %5.1f s", x.what, x.d.Seconds()))
		}
	}
	return out
}

// mergeInput is the partial rows scale-out stage-2 windows merged; 0 for
// other configs.
func mergeInput(m map[string]*dto.MetricFamily) float64 {
	return sum(m, "window_merge_input_partials_total")
}
