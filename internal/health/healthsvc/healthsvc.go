// Package healthsvc is the Benthos side of internal/health, shared by the
// outputs that can fail to deliver (kafka_franz, delta_lake): the
// `not_ready_after` field, the output_failing_seconds and
// output_delivery_failures_total metrics (labelled with the output's label
// and path by Benthos), log lines on the transitions, and the mapping of a
// long failure to service.ErrNotConnected, which is what turns /ready to 503.
package healthsvc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/health"
)

// FieldNotReadyAfter is the field name, the same in every output using it.
const FieldNotReadyAfter = "not_ready_after"

// NotReadyAfterField documents the field once for every output.
func NotReadyAfterField() *service.ConfigField {
	return service.NewDurationField(FieldNotReadyAfter).
		Description("How long every write must keep failing before the output reports itself not connected: " +
			"`/ready` then answers 503 and `output_failing_seconds` shows for how long. Nothing is dropped meanwhile: " +
			"the batch is retried (about once a second) and the input stops reading once `checkpoint_limit` records " +
			"wait, so memory stays bounded; the job resumes by itself when the store answers again. `0s` turns " +
			"`/ready` off at the first failure.").
		Default("30s").Example("2m").Advanced()
}

// Output follows one output's delivery.
type Output struct {
	what     string
	t        *health.Tracker
	log      *service.Logger
	failing  *service.MetricGauge
	failures *service.MetricCounter

	mu       sync.Mutex
	notReady bool // logged as not ready, not yet recovered
}

// FromParsed reads not_ready_after; what names the output in log lines
// (e.g. "kafka_franz output dead_letter").
func FromParsed(conf *service.ParsedConfig, mgr *service.Resources, what string) (*Output, error) {
	d, err := NotReadyAfter(conf)
	if err != nil {
		return nil, err
	}
	return New(health.Config{NotReadyAfter: d}, mgr.Logger(), mgr.Metrics(), what), nil
}

// NotReadyAfter reads the field.
func NotReadyAfter(conf *service.ParsedConfig) (time.Duration, error) {
	d, err := conf.FieldDuration(FieldNotReadyAfter)
	if err == nil && d < 0 {
		err = fmt.Errorf("%s: %v must not be negative (0s: not ready at the first failure)", FieldNotReadyAfter, d)
	}
	return d, err
}

// New builds the tracker with an explicit config (tests inject the clock).
// log and m may be nil.
func New(c health.Config, log *service.Logger, m *service.Metrics, what string) *Output {
	o := &Output{
		what:     what,
		t:        health.New(c),
		log:      log,
		failing:  m.NewGauge("output_failing_seconds"),
		failures: m.NewCounter("output_delivery_failures_total"),
	}
	// Exported from the start at 0, so rate() and the alert see the first change.
	o.failing.Set(0)
	o.failures.Incr(0)
	return o
}

// Failed records a failed write of a whole batch. Once failures have lasted
// not_ready_after it returns service.ErrNotConnected: Benthos marks the
// output not connected (/ready 503), calls Connect (see Reconnect) and
// writes the same batch again, until it succeeds. Before that it returns err
// and the batch is nacked and replayed as usual.
func (o *Output) Failed(err error) error {
	s := o.t.Failure(err)
	o.failures.Incr(1)
	o.failing.SetFloat64(s.FailingFor.Seconds())
	if !s.NotReady {
		return err
	}
	o.mu.Lock()
	first := !o.notReady
	o.notReady = true
	o.mu.Unlock()
	if first {
		o.log.Errorf("%s: every write has failed for %s (%d failures), reporting not ready and retrying; last error: %v",
			o.what, s.FailingFor.Round(time.Millisecond), s.Failures, err)
	}
	return service.ErrNotConnected
}

// PartlyFailed records a write in which some messages failed: a failure for
// the timer, but the error is returned as is (the delivered messages must not
// be written again).
func (o *Output) PartlyFailed(err error) error {
	s := o.t.Failure(err)
	o.failures.Incr(1)
	o.failing.SetFloat64(s.FailingFor.Seconds())
	return err
}

// Delivered records a write that succeeded.
func (o *Output) Delivered() {
	before := o.t.Success()
	if !before.Failing {
		return
	}
	o.failing.SetFloat64(0)
	o.mu.Lock()
	wasNotReady := o.notReady
	o.notReady = false
	o.mu.Unlock()
	if wasNotReady {
		o.log.Infof("%s: delivering again after %s of failures (%d failed attempts in total)",
			o.what, before.FailingFor.Round(time.Millisecond), before.Failures)
	}
}

// Reconnect runs probe from Connect while the output is failing, paced so a
// store that fails fast is not hammered; a failed probe counts as a failed
// attempt. When delivering it does nothing.
func (o *Output) Reconnect(ctx context.Context, probe func(context.Context) error) error {
	if !o.t.Status().Failing {
		return nil
	}
	if err := o.t.Pace(ctx); err != nil {
		return err
	}
	if err := probe(ctx); err != nil {
		s := o.t.Failure(err)
		o.failures.Incr(1)
		o.failing.SetFloat64(s.FailingFor.Seconds())
		return err
	}
	return nil
}

// Status is the tracker's status.
func (o *Output) Status() health.Status { return o.t.Status() }

// Logf logs an informational line prefixed with the output's name.
func (o *Output) Logf(format string, args ...any) {
	o.log.Infof("%s: "+format, append([]any{o.what}, args...)...)
}
