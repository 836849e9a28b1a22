// Package promexport is the pure core of the rides-connect `prometheus`
// metrics exporter: a registry that turns Benthos-style metric requests
// (name + label keys, then label values) into prometheus/client_golang
// collectors, the /metrics handler and an optional push-gateway loop.
// It does not import Benthos, so it is tested as a plain library.
package promexport

import (
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure a Registry.
type Options struct {
	// Histogram exports timers as histograms when true, summaries otherwise.
	Histogram bool
	// Buckets are the histogram upper bounds in seconds; empty means
	// prometheus.DefBuckets.
	Buckets []float64
	// Objectives maps summary quantiles to their allowed absolute error.
	Objectives map[float64]float64
	// ProcessMetrics adds process_* (CPU, RSS, open fds) collectors.
	ProcessMetrics bool
	// GoMetrics adds go_* runtime collectors, including GC CPU time.
	GoMetrics bool
	// OnError receives problems that cannot be returned to the caller
	// (conflicting registrations, label value count mismatches). It is called
	// once per metric name and problem kind. May be nil.
	OnError func(error)
}

// Validate reports the first option that cannot work, naming its field.
func (o Options) Validate() error {
	for i, b := range o.Buckets {
		if i > 0 && b <= o.Buckets[i-1] {
			return fmt.Errorf("histogram_buckets: bucket %d (%v) must be greater than bucket %d (%v); list the upper bounds in ascending order", i, b, i-1, o.Buckets[i-1])
		}
	}
	for q, e := range o.Objectives {
		if q <= 0 || q >= 1 {
			return fmt.Errorf("summary_quantiles_objectives: quantile %v must be between 0 and 1 (exclusive)", q)
		}
		if e <= 0 || e >= 1 {
			return fmt.Errorf("summary_quantiles_objectives: error %v for quantile %v must be between 0 and 1 (exclusive)", e, q)
		}
	}
	return nil
}

type kind string

const (
	kindCounter kind = "counter"
	kindGauge   kind = "gauge"
	kindTimer   kind = "timer"
)

// family is one registered metric name with its fixed label keys.
type family struct {
	kind    kind
	labels  []string
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	timer   prometheus.ObserverVec
}

// Registry owns a private prometheus.Registry (no global state, so two
// streams in one process never collide).
type Registry struct {
	opts Options
	reg  *prometheus.Registry

	mu       sync.Mutex
	families map[string]*family
	reported map[string]bool
}

// NewRegistry validates opts and builds an empty registry.
func NewRegistry(opts Options) (*Registry, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if len(opts.Buckets) == 0 {
		opts.Buckets = prometheus.DefBuckets
	}
	r := &Registry{
		opts:     opts,
		reg:      prometheus.NewRegistry(),
		families: map[string]*family{},
		reported: map[string]bool{},
	}
	if opts.ProcessMetrics {
		if err := r.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("add_process_metrics: %w", err)
		}
	}
	if opts.GoMetrics {
		// The default Go collector plus GC CPU time, which the "GC time high"
		// alert needs (pause time alone misses concurrent marking).
		gc := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: cpuClasses},
		))
		if err := r.reg.Register(gc); err != nil {
			return nil, fmt.Errorf("add_go_metrics: %w", err)
		}
	}
	return r, nil
}

// Gatherer exposes the current values, for the progress reporter and pushes.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the registry in the Prometheus text format. A collector
// error does not hide the other series.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Counter, Gauge and Observer are the value handles the exporter hands out.
type (
	Counter  interface{ Add(float64) }
	Gauge    interface{ Set(float64) }
	Observer interface{ Observe(float64) }
)

type noop struct{}

func (noop) Add(float64)     {}
func (noop) Set(float64)     {}
func (noop) Observe(float64) {}

// Counter returns a constructor of counter handles for name and label keys.
func (r *Registry) Counter(name string, labelKeys ...string) func(labelValues ...string) Counter {
	f := r.family(MetricName(name), kindCounter, labelKeys)
	if f == nil {
		return func(...string) Counter { return noop{} }
	}
	return func(values ...string) Counter {
		c, err := f.counter.GetMetricWithLabelValues(values...)
		if err != nil {
			r.report(MetricName(name)+"/values", fmt.Errorf("metric %s: %w", MetricName(name), err))
			return noop{}
		}
		return nonNegative{c}
	}
}

// Gauge returns a constructor of gauge handles for name and label keys.
func (r *Registry) Gauge(name string, labelKeys ...string) func(labelValues ...string) Gauge {
	f := r.family(MetricName(name), kindGauge, labelKeys)
	if f == nil {
		return func(...string) Gauge { return noop{} }
	}
	return func(values ...string) Gauge {
		g, err := f.gauge.GetMetricWithLabelValues(values...)
		if err != nil {
			r.report(MetricName(name)+"/values", fmt.Errorf("metric %s: %w", MetricName(name), err))
			return noop{}
		}
		return g
	}
}

// Timer returns a constructor of observers for name and label keys. The
// observers take seconds; the exported name ends in _seconds (see TimerName).
func (r *Registry) Timer(name string, labelKeys ...string) func(labelValues ...string) Observer {
	f := r.family(TimerName(name), kindTimer, labelKeys)
	if f == nil {
		return func(...string) Observer { return noop{} }
	}
	return func(values ...string) Observer {
		o, err := f.timer.GetMetricWithLabelValues(values...)
		if err != nil {
			r.report(TimerName(name)+"/values", fmt.Errorf("metric %s: %w", TimerName(name), err))
			return noop{}
		}
		return o
	}
}

// nonNegative drops negative increments: a Prometheus counter panics on them.
type nonNegative struct{ c prometheus.Counter }

func (n nonNegative) Add(v float64) {
	if v > 0 {
		n.c.Add(v)
	}
}

// family finds or registers the collector for an exported name. Benthos asks
// for the same name many times (every input asks for input_received); the
// same kind and label keys share one collector. A conflicting request is
// reported and gets nil, so the caller hands out no-op handles instead of
// failing the whole stream.
func (r *Registry) family(name string, k kind, rawLabels []string) *family {
	labels := make([]string, len(rawLabels))
	for i, l := range rawLabels {
		labels[i] = LabelName(l)
		// client_golang panics on a histogram "le" or summary "quantile"
		// label: they name the buckets and quantiles.
		if k == kindTimer && (labels[i] == "le" || labels[i] == "quantile") {
			labels[i] += "_"
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range labels {
		if slices.Contains(labels[i+1:], labels[i]) {
			r.reportLocked(name+"/labels", fmt.Errorf("metric %s: label keys %v give the label %q twice once made legal; the metric is not exported", name, rawLabels, labels[i]))
			return nil
		}
	}
	if f, ok := r.families[name]; ok {
		if f.kind == k && slices.Equal(f.labels, labels) {
			return f
		}
		r.reportLocked(name+"/conflict", fmt.Errorf("metric %s: requested as %s with labels %v but already registered as %s with labels %v; the second definition is not exported", name, k, labels, f.kind, f.labels))
		return nil
	}
	f := &family{kind: k, labels: labels}
	help := "rides-connect " + string(k) + " " + name
	var c prometheus.Collector
	switch k {
	case kindCounter:
		f.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		c = f.counter
	case kindGauge:
		f.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		c = f.gauge
	case kindTimer:
		if r.opts.Histogram {
			v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: r.opts.Buckets}, labels)
			f.timer, c = v, v
		} else {
			v := prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: name, Help: help, Objectives: r.opts.Objectives}, labels)
			f.timer, c = v, v
		}
	}
	if err := r.reg.Register(c); err != nil {
		// Only a clash with the process/Go collectors can get here.
		r.reportLocked(name+"/register", fmt.Errorf("metric %s: %w", name, err))
		return nil
	}
	r.families[name] = f
	return f
}

func (r *Registry) report(key string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reportLocked(key, err)
}

func (r *Registry) reportLocked(key string, err error) {
	if r.reported[key] || r.opts.OnError == nil {
		return
	}
	r.reported[key] = true
	r.opts.OnError(err)
}
