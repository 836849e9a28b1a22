// Package progress builds streaming progress events in the spirit of Spark's
// StreamingQueryListener (started / progress / terminated) from the metric
// values the exporter already holds, so no plugin has to call it. It does not
// import Benthos; time comes from an injected clock.
package progress

import (
	"math"

	dto "github.com/prometheus/client_model/go"
)

// Value is one metric family folded over all its series (every component
// path and label value).
type Value struct {
	Sum   float64 // counters and gauges: sum of the series
	Max   float64 // counters and gauges: largest series
	Count uint64  // histograms and summaries: observations
	Total float64 // histograms and summaries: sum of observations (seconds)
	// ByLabel sums counters and gauges per value of the `label` label (the
	// component label Benthos adds), for per-output figures.
	ByLabel map[string]float64
	// Series keeps each series' labels and value, only for the families of
	// keptSeries (the per-partition ones the scale-out section reads).
	Series []Series
}

// Series is one series of a family: its labels (without the component's
// label and path) and its value.
type Series struct {
	Labels map[string]string
	Value  float64
}

// keptSeries are the families whose series a progress event lists one by
// one; each has at most one series per Kafka partition per component.
var keptSeries = map[string]bool{
	mKafkaAssigned: true, mKafkaLag: true,
	mSourceMaxEvent: true, mMergeWatermark: true, mMergeHoldback: true, mMergeBehind: true,
}

// Snapshot maps exported metric names to their folded values.
type Snapshot map[string]Value

// FromFamilies folds gathered metric families into a Snapshot.
func FromFamilies(fams []*dto.MetricFamily) Snapshot {
	s := make(Snapshot, len(fams))
	for _, f := range fams {
		v := Value{Max: math.Inf(-1)}
		for _, m := range f.GetMetric() {
			var x float64
			switch {
			case m.Counter != nil:
				x = m.GetCounter().GetValue()
			case m.Gauge != nil:
				x = m.GetGauge().GetValue()
			case m.Untyped != nil:
				x = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				v.Count += m.GetHistogram().GetSampleCount()
				v.Total += m.GetHistogram().GetSampleSum()
				continue
			case m.Summary != nil:
				v.Count += m.GetSummary().GetSampleCount()
				v.Total += m.GetSummary().GetSampleSum()
				continue
			}
			v.Sum += x
			v.Max = math.Max(v.Max, x)
			if keptSeries[f.GetName()] {
				v.Series = append(v.Series, series(m.GetLabel(), x))
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "label" {
					if v.ByLabel == nil {
						v.ByLabel = map[string]float64{}
					}
					v.ByLabel[lp.GetValue()] += x
				}
			}
		}
		if math.IsInf(v.Max, -1) {
			v.Max = 0
		}
		s[f.GetName()] = v
	}
	return s
}

// has reports whether any of the names is exposed.
func (s Snapshot) has(names ...string) bool {
	for _, n := range names {
		if _, ok := s[n]; ok {
			return true
		}
	}
	return false
}

func series(lps []*dto.LabelPair, x float64) Series {
	sr := Series{Labels: map[string]string{}, Value: x}
	for _, lp := range lps {
		if n := lp.GetName(); n != "label" && n != "path" {
			sr.Labels[n] = lp.GetValue()
		}
	}
	return sr
}
