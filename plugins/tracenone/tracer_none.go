// Package tracenone replaces Benthos' `none` tracer (the default) with one
// that does the same nothing for less.
//
// Benthos starts a span for every message at the input and again in every
// processor, even with tracing off. The OpenTelemetry no-op tracer it uses
// for `none` wraps the message's context in a new one each time to carry an
// empty span: one allocation per message per processor, plus the lookups
// down an ever longer context chain, ~4 % of config/rides.yaml's CPU and
// ~15 % of its allocations (docs/benchmarks.md). This tracer leaves a
// context without a span as it is and hands out no span for it (nil), so
// Benthos does not box one per message per processor either; a context
// that carries a span context (a parent from upstream) gets exactly the
// no-op tracer's answer.
//
// The nil span is safe where this provider goes: Benthos reaches tracers
// only through its tracing package, which wraps every span it starts in
// tracing.OtelSpan (nil there means "no span", and every method of its Span
// is nil-safe) or drops it. A plugin that calls Start itself through
// service.Resources.OtelTracer must check the span for nil.
package tracenone

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"

	// Imported for its init order only: pure registers Benthos' own `none`,
	// which this package's init must come after to replace it.
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

func init() {
	service.MustRegisterOtelTracerProvider("none", service.NewConfigSpec().
		Stable().
		Summary("Do not send tracing events anywhere.").
		Description("The default. Costs no allocation per message and processor: a message's "+
			"context gets no span unless it already carries a span context from upstream.").
		Field(service.NewObjectField("").Default(map[string]any{})),
		func(*service.ParsedConfig) (trace.TracerProvider, error) { return Provider{}, nil })
}

// Provider is a trace.TracerProvider whose tracers record nothing.
type Provider struct{ embedded.TracerProvider }

var _ trace.TracerProvider = Provider{}

// Tracer returns the one tracer; it has no state.
func (Provider) Tracer(string, ...trace.TracerOption) trace.Tracer { return tracer{} }

type tracer struct{ embedded.Tracer }

var _ trace.Tracer = tracer{}

// Start returns ctx itself and a nil span when ctx carries no span context:
// a new context holding an empty span would read back the same
// (trace.SpanFromContext of either is a span with a zero SpanContext that
// records nothing), and a nil span spares Benthos the wrapper it allocates
// around a non-nil one (tracing.OtelSpan). Otherwise
// the OpenTelemetry no-op tracer decides, so a parent's span context still
// reaches the children.
func (tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	// A message's context is Background unless something set one: answered
	// without the context lookup. Otherwise only a valid span context (trace
	// and span IDs) needs a span: an invalid one stays in ctx, passed on as
	// it is, and IsValid compares two arrays where SpanContext.Equal renders
	// both trace states as strings, per message and processor.
	if ctx == context.Background() || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return noop.Tracer{}.Start(ctx, name, opts...)
}
