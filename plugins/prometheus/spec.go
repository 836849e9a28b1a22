// Package prometheus registers the rides-connect `prometheus` metrics
// exporter. Because a metrics plugin named `prometheus` exists, Benthos makes
// it the default, so `rides-connect -c config.yaml` serves /metrics without a
// `metrics:` section. The pure parts live in promexport (registry, names,
// push) and progress (Spark-style progress events).
package prometheus

import (
	"errors"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/plugins/prometheus/promexport"
)

// Field names.
const (
	fUseHistogram   = "use_histogram_timing"
	fBuckets        = "histogram_buckets"
	fObjectives     = "summary_quantiles_objectives"
	fQuantile       = "quantile"
	fError          = "error"
	fProcessMetrics = "add_process_metrics"
	fGoMetrics      = "add_go_metrics"
	fPushURL        = "push_url"
	fPushInterval   = "push_interval"
	fPushJob        = "push_job_name"
	fPushAuth       = "push_basic_auth"
	fUsername       = "username"
	fPassword       = "password"
	fProgInterval   = "progress_interval"
	fProgName       = "progress_name"
	fProgOutput     = "progress_output"
)

// progressOutputs are the options of progress_output.
var progressOutputs = []string{"log", "stdout", "stderr"}

func configSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Summary("Serves metrics in the Prometheus text format at `/metrics` on the service HTTP server, optionally pushes them to a push gateway, and logs Spark-style streaming progress events.").
		Description(`
This is the default metrics exporter of rides-connect. Every series carries the `+"`label`"+` and `+"`path`"+` labels of the component that emits it. Metric and label names are made legal for Prometheus (invalid characters become `+"`_`"+`). Benthos timers (nanoseconds, usually named `+"`*_ns`"+`) are exported in seconds as `+"`*_seconds`"+` histograms, or summaries when `+"`use_histogram_timing`"+` is false. The names our plugins emit are listed in docs/metrics.md.

### Delivery guarantees and back-pressure

The exporter never touches messages, so it does not change the delivery guarantees of the pipeline. Recording a value is an in-memory update (a series lookup under a read lock, then an atomic add): it never waits for a scrape or a push, so it cannot back-pressure a pipeline thread; a scrape reads the current values. Push-gateway failures are logged and the next interval pushes again; they never apply back-pressure. The last values are pushed once more at shutdown; every push gives up after 10 s.

### Progress events

Every `+"`progress_interval`"+` the exporter logs one JSON object shaped like Spark's StreamingQueryProgress (`+"`batchId`"+`, `+"`numInputRows`"+`, `+"`inputRowsPerSecond`"+`, `+"`processedRowsPerSecond`"+`, `+"`durationMs`"+`, `+"`eventTime.watermark`"+`/`+"`max`"+`, `+"`stateOperators`"+`, `+"`sources`"+`, `+"`sink.version`"+`), computed from the metric values it holds, plus a `+"`started`"+` event at start and a `+"`terminated`"+` event at shutdown. See docs/observability.md for the field meanings.`).
		Fields(
			service.NewBoolField(fUseHistogram).
				Description("Export timers as histograms (seconds). When false they are exported as summaries (seconds) with the quantiles of `summary_quantiles_objectives`. Histograms can be aggregated across instances; summaries cannot.").
				Default(true).Example(false),
			service.NewFloatListField(fBuckets).
				Description("Histogram bucket upper bounds in seconds, in ascending order. Empty uses the Prometheus defaults (5ms … 10s).").
				Default([]any{}).Example([]any{0.01, 0.05, 0.1, 0.5, 1, 5, 30}).Advanced(),
			service.NewObjectListField(fObjectives,
				service.NewFloatField(fQuantile).Description("The quantile, between 0 and 1 (exclusive).").Example(0.99),
				service.NewFloatField(fError).Description("The allowed absolute error of the quantile, between 0 and 1 (exclusive).").Example(0.001),
			).
				Description("Quantiles (and their allowed error) computed by summaries when `use_histogram_timing` is false.").
				Default([]any{
					map[string]any{fQuantile: 0.5, fError: 0.05},
					map[string]any{fQuantile: 0.9, fError: 0.01},
					map[string]any{fQuantile: 0.99, fError: 0.001},
				}).
				Example([]any{map[string]any{fQuantile: 0.999, fError: 0.0001}}).Advanced(),
			service.NewBoolField(fProcessMetrics).
				Description("Export `process_*` metrics (CPU seconds, resident memory, open file descriptors).").
				Default(true).Example(false),
			service.NewBoolField(fGoMetrics).
				Description("Export `go_*` runtime metrics (goroutines, heap, GC pauses and GC CPU time, which the GcTimeHigh alert uses).").
				Default(true).Example(false),
			service.NewURLField(fPushURL).
				Description("URL of a Prometheus push gateway. Empty disables pushing.").
				Default("").Example("http://pushgateway:9091").Optional().Advanced(),
			service.NewDurationField(fPushInterval).
				Description("How often to push to `push_url`. `0s` pushes only once, at shutdown.").
				Default("10s").Example("30s").Advanced(),
			service.NewStringField(fPushJob).
				Description("The `job` grouping key of pushed metrics.").
				Default("rides-connect").Example("rides-connect-backfill").Advanced(),
			service.NewObjectField(fPushAuth,
				service.NewStringField(fUsername).Description("Basic auth user for the push gateway.").Default("").Example("metrics"),
				service.NewStringField(fPassword).Description("Basic auth password for the push gateway.").Default("").Example("${PUSH_PASSWORD}").Secret(),
			).Description("Basic authentication for the push gateway.").Advanced(),
			service.NewDurationField(fProgInterval).
				Description("How often to log a progress event. `0s` disables progress, started and terminated events.").
				Default("10s").Example("1m"),
			service.NewStringField(fProgName).
				Description("Name of the query in progress events (Spark's `queryName`); the event `id` is derived from it, so it stays the same across restarts.").
				Default("rides").Example("rides_agg_5m"),
			enumfield.New(fProgOutput, progressOutputs...).
				Description("Where progress events go: `log` writes them through the service logger (the message is the event JSON, with field `event`); `stdout`/`stderr` write one bare JSON object per line, like Spark's listener printing `progress.json`.").
				Default("log").Example("stdout").Advanced(),
		).
		LintRule(lintrule.Lazy("prometheus", `
let buckets = this.histogram_buckets.or([])
let quantiles = this.summary_quantiles_objectives.or([])
root = [
  if $buckets.sort() != $buckets || $buckets.unique().length() != $buckets.length() { "histogram_buckets must be strictly ascending (each bound greater than the previous)" },
  if $quantiles.any(o -> o.quantile <= 0 || o.quantile >= 1) { "summary_quantiles_objectives: every quantile must be between 0 and 1 (exclusive)" },
  if $quantiles.any(o -> o.error <= 0 || o.error >= 1) { "summary_quantiles_objectives: every error must be between 0 and 1 (exclusive)" },
  if this.push_url.or("") == "" && this.push_basic_auth.username.or("") != "" { "push_basic_auth is set but push_url is empty: set push_url or remove push_basic_auth" },
].filter(e -> e != null)
`, lintrule.Enum{Path: fProgOutput, Options: progressOutputs})).
		Example("Scraped by Prometheus", "The default: nothing to configure. Prometheus scrapes `http://<host>:4195/metrics`.", `
http:
  address: 0.0.0.0:4195
metrics:
  prometheus: {}
`).
		Example("Pushed to a gateway, summaries, progress on stdout", "For a backfill job too short-lived to be scraped.", `
metrics:
  prometheus:
    use_histogram_timing: false
    push_url: http://pushgateway:9091
    push_interval: 15s
    push_job_name: rides-backfill
    progress_interval: 30s
    progress_output: stdout
`)
}

// config is the parsed exporter configuration handed to the core.
type config struct {
	registry     promexport.Options
	push         promexport.PushOptions
	progressEach time.Duration
	progressName string
	progressOut  string
}

func configFromParsed(pc *service.ParsedConfig) (config, error) {
	var c config
	var err error
	if c.registry.Histogram, err = pc.FieldBool(fUseHistogram); err != nil {
		return c, err
	}
	if c.registry.Buckets, err = pc.FieldFloatList(fBuckets); err != nil {
		return c, err
	}
	objs, err := pc.FieldObjectList(fObjectives)
	if err != nil {
		return c, err
	}
	c.registry.Objectives = map[float64]float64{}
	for _, o := range objs {
		q, err := o.FieldFloat(fQuantile)
		if err != nil {
			return c, err
		}
		e, err := o.FieldFloat(fError)
		if err != nil {
			return c, err
		}
		c.registry.Objectives[q] = e
	}
	if c.registry.ProcessMetrics, err = pc.FieldBool(fProcessMetrics); err != nil {
		return c, err
	}
	if c.registry.GoMetrics, err = pc.FieldBool(fGoMetrics); err != nil {
		return c, err
	}
	if err := c.registry.Validate(); err != nil {
		return c, err
	}
	if pc.Contains(fPushURL) {
		u, err := pc.FieldURL(fPushURL)
		if err != nil {
			return c, err
		}
		c.push.URL = u.String()
	}
	if c.push.Interval, err = pc.FieldDuration(fPushInterval); err != nil {
		return c, err
	}
	if c.push.Job, err = pc.FieldString(fPushJob); err != nil {
		return c, err
	}
	if c.push.Username, err = pc.FieldString(fPushAuth, fUsername); err != nil {
		return c, err
	}
	if c.push.Password, err = pc.FieldString(fPushAuth, fPassword); err != nil {
		return c, err
	}
	if c.push.Interval < 0 {
		return c, fmt.Errorf("%s: %v is negative; use 0s to push only at shutdown", fPushInterval, c.push.Interval)
	}
	if c.push.URL == "" && c.push.Username != "" {
		return c, errors.New("push_basic_auth is set but push_url is empty: set push_url or remove push_basic_auth")
	}
	if c.push.URL != "" && c.push.Job == "" {
		return c, fmt.Errorf("%s must not be empty when push_url is set", fPushJob)
	}
	if c.progressEach, err = pc.FieldDuration(fProgInterval); err != nil {
		return c, err
	}
	if c.progressEach < 0 {
		return c, fmt.Errorf("%s: %v is negative; use 0s to disable progress events", fProgInterval, c.progressEach)
	}
	if c.progressName, err = pc.FieldString(fProgName); err != nil {
		return c, err
	}
	if c.progressOut, err = enumfield.Read(pc, progressOutputs, fProgOutput); err != nil {
		return c, err
	}
	return c, nil
}
