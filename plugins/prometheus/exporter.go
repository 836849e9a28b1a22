package prometheus

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/prometheus/progress"
	"github.com/miaradia/rides-connect/plugins/prometheus/promexport"
)

func init() {
	service.MustRegisterMetricsExporter("prometheus", configSpec(),
		func(pc *service.ParsedConfig, log *service.Logger) (service.MetricsExporter, error) {
			c, err := configFromParsed(pc)
			if err != nil {
				return nil, err
			}
			return newExporter(c, log, hooks{})
		})
}

// hooks let tests drive time and capture progress output.
type hooks struct {
	now          func() time.Time
	progressTick <-chan time.Time
	progressOut  io.Writer
}

// exporter adapts promexport to service.MetricsExporter. Benthos duck-types
// HandlerFunc to mount /metrics and /stats on its HTTP server.
type exporter struct {
	reg      *promexport.Registry
	handler  http.Handler
	pusher   *promexport.Pusher
	progress *progressLoop

	closeOnce sync.Once
	closeErr  error
}

func newExporter(c config, log *service.Logger, h hooks) (*exporter, error) {
	c.registry.OnError = func(err error) { log.Errorf("prometheus exporter: %v", err) }
	reg, err := promexport.NewRegistry(c.registry)
	if err != nil {
		return nil, err
	}
	e := &exporter{reg: reg, handler: reg.Handler()}
	if c.push.URL != "" {
		e.pusher = promexport.StartPusher(reg.Gatherer(), c.push, func(err error) {
			log.Warnf("prometheus exporter: %v (retrying next interval)", err)
		})
	}
	if c.progressEach > 0 {
		emit := progressEmitter(c.progressOut, log, h.progressOut)
		rep := progress.NewReporter(progress.Config{Name: c.progressName, Now: h.now})
		e.progress = startProgress(reg, rep, c.progressEach, h.progressTick, emit, log)
	}
	return e, nil
}

// progressEmitter writes one event per line; stdout/stderr lines are bare
// JSON, log lines carry the JSON as their message.
func progressEmitter(out string, log *service.Logger, override io.Writer) func(kind string, ev any) {
	var w io.Writer
	switch {
	case override != nil:
		w = override
	case out == "stdout":
		w = os.Stdout
	case out == "stderr":
		w = os.Stderr
	}
	var mu sync.Mutex
	return func(kind string, ev any) {
		b, err := json.Marshal(ev)
		if err != nil {
			log.Errorf("progress event: %v", err)
			return
		}
		if w == nil {
			log.With("event", kind).Info(string(b))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(append(b, '\n'))
	}
}

func (e *exporter) HandlerFunc() http.HandlerFunc { return e.handler.ServeHTTP }

func (e *exporter) NewCounterCtor(name string, labelKeys ...string) service.MetricsExporterCounterCtor {
	ctor := e.reg.Counter(name, labelKeys...)
	return func(values ...string) service.MetricsExporterCounter { return counter{ctor(values...)} }
}

func (e *exporter) NewTimerCtor(name string, labelKeys ...string) service.MetricsExporterTimerCtor {
	ctor := e.reg.Timer(name, labelKeys...)
	return func(values ...string) service.MetricsExporterTimer { return timer{ctor(values...)} }
}

func (e *exporter) NewGaugeCtor(name string, labelKeys ...string) service.MetricsExporterGaugeCtor {
	ctor := e.reg.Gauge(name, labelKeys...)
	return func(values ...string) service.MetricsExporterGauge { return gauge{ctor(values...)} }
}

// Close emits the final progress and terminated events, then pushes the
// last values. Idempotent.
func (e *exporter) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		if e.progress != nil {
			e.progress.Close()
		}
		if e.pusher != nil {
			e.closeErr = e.pusher.Close(ctx)
		}
	})
	return e.closeErr
}

// counter, gauge and timer implement the optional float methods Benthos
// duck-types, so float values are not truncated to integers.
type counter struct{ c promexport.Counter }

func (c counter) Incr(n int64)          { c.c.Add(float64(n)) }
func (c counter) IncrFloat64(f float64) { c.c.Add(f) }

type gauge struct{ g promexport.Gauge }

func (g gauge) Set(v int64)          { g.g.Set(float64(v)) }
func (g gauge) SetFloat64(v float64) { g.g.Set(v) }

type timer struct{ o promexport.Observer }

// Timing takes nanoseconds (the Benthos convention) and records seconds.
func (t timer) Timing(ns int64) { t.o.Observe(float64(ns) / 1e9) }
