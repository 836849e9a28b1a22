package harness

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// PartitionedReference is the seed query under the deterministic event-time
// rule, stated directly over each partition's rides in offset order: a ride
// is late iff its window end <= the max event time of the rides before it in
// its partition − delay; a window is in the table iff its end <= the minimum
// over all partitions of their max event time − delay (a partition without
// rides holds every window open). Sums are exact. It returns the table and
// the number of late rides.
func PartitionedReference(parts [][]Ride, size, delay time.Duration) ([]WindowRow, int, error) {
	type key struct {
		start int64
		city  string
	}
	type acc struct {
		sum, dist exactSum
		n         int64
	}
	accs := map[key]*acc{}
	sizeMs, delayMs := size.Milliseconds(), delay.Milliseconds()
	closeAt := int64(math.MaxInt64)
	late := 0
	for p, rides := range parts {
		maxMs := int64(math.MinInt64)
		for _, r := range rides {
			ts, err := time.Parse(time.RFC3339Nano, r.TS)
			if err != nil {
				return nil, 0, fmt.Errorf("partition %d ride %d: %w", p, r.RideID, err)
			}
			ms := ts.UnixMilli()
			start := ms - mod(ms, sizeMs)
			isLate := maxMs != math.MinInt64 && start+sizeMs <= maxMs-delayMs
			maxMs = max(maxMs, ms)
			if isLate {
				late++
				continue
			}
			k := key{start, strings.ToUpper(r.City)}
			a := accs[k]
			if a == nil {
				a = &acc{}
				accs[k] = a
			}
			a.sum.add(r.Price)
			a.dist.add(r.DistanceKm)
			a.n++
		}
		if maxMs == math.MinInt64 {
			return nil, late, nil // a partition without rides: nothing closes
		}
		closeAt = min(closeAt, maxMs-delayMs)
	}
	var out []WindowRow
	for k, a := range accs {
		end := k.start + sizeMs
		if end > closeAt {
			continue
		}
		out = append(out, WindowRow{
			City:        k.city,
			WinStart:    time.UnixMilli(k.start).UTC().Format(seedTimeLayout),
			WinEnd:      time.UnixMilli(end).UTC().Format(seedTimeLayout),
			Revenue:     a.sum.value(),
			AvgDistance: a.dist.value() / float64(a.n),
			Cnt:         a.n,
		})
	}
	SortRows(out)
	return out, late, nil
}
