package tracenone

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

var parent = trace.SpanContextConfig{
	TraceID:    trace.TraceID{1, 2, 3},
	SpanID:     trace.SpanID{4, 5, 6},
	TraceFlags: trace.FlagsSampled,
}

func TestNoneTracerLeavesAContextWithoutASpanAsItIs(t *testing.T) {
	// Background is a message's context unless something set one (the fast path).
	for _, ctx := range []context.Context{context.Background(), context.WithValue(context.Background(), t, "x")} {
		got, span := Provider{}.Tracer("benthos").Start(ctx, "op")
		if got != ctx {
			t.Fatalf("Start wrapped the context: %v", got)
		}
		if span != nil {
			t.Fatalf("Start handed out a span (%T): Benthos boxes every non-nil one", span)
		}
		if s := trace.SpanFromContext(got); s.IsRecording() || s.SpanContext().IsValid() {
			t.Fatalf("context reads back a span: %v", s.SpanContext())
		}
	}
}

func TestNoneTracerPassesAParentSpanContextOn(t *testing.T) {
	sc := trace.NewSpanContext(parent).WithRemote(true)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	got, span := Provider{}.Tracer("benthos").Start(ctx, "op")
	if !span.SpanContext().Equal(sc) || !trace.SpanContextFromContext(got).Equal(sc) {
		t.Fatalf("parent lost: span %v, context %v, want %v", span.SpanContext(), trace.SpanContextFromContext(got), sc)
	}
	if span.IsRecording() {
		t.Fatal("span records")
	}
}

// recording is a parent span from some real tracer.
type recording struct {
	noop.Span
	ended bool
}

func (r *recording) IsRecording() bool              { return true }
func (r *recording) SpanContext() trace.SpanContext { return trace.NewSpanContext(parent) }
func (r *recording) End(...trace.SpanEndOption)     { r.ended = true }

func TestNoneTracerNeverHandsOutARecordingParent(t *testing.T) {
	p := &recording{}
	ctx := trace.ContextWithSpan(context.Background(), p)
	got, span := Provider{}.Tracer("benthos").Start(ctx, "op")
	span.End()
	if p.ended {
		t.Fatal("ending the child ended the parent")
	}
	if span.IsRecording() || !span.SpanContext().Equal(p.SpanContext()) {
		t.Fatalf("child: recording %v, span context %v", span.IsRecording(), span.SpanContext())
	}
	if s := trace.SpanFromContext(got); s.IsRecording() || !s.SpanContext().Equal(p.SpanContext()) {
		t.Fatalf("context's span: recording %v, span context %v", s.IsRecording(), s.SpanContext())
	}
}

var seen = struct {
	sync.Mutex
	ctxs []context.Context
}{}

func init() {
	service.MustRegisterProcessor("tracenone_probe", service.NewConfigSpec().Summary("test only"),
		func(*service.ParsedConfig, *service.Resources) (service.Processor, error) { return probe{}, nil })
}

type probe struct{}

func (probe) Process(_ context.Context, m *service.Message) (service.MessageBatch, error) {
	seen.Lock()
	seen.ctxs = append(seen.ctxs, m.Context())
	seen.Unlock()
	return service.MessageBatch{m}, nil
}

func (probe) Close(context.Context) error { return nil }

// A stream with no tracer configured uses this package's `none`: the input's
// and the processors' spans put nothing in the message's context (Benthos'
// own sort-group tags are all it holds).
func TestStreamsWithoutATracerGetThisNone(t *testing.T) {
	seen.Lock()
	seen.ctxs = nil // a run of its own (go test -count)
	seen.Unlock()
	sb := service.NewStreamBuilder()
	if err := sb.SetYAML(`
logger: { level: NONE }
input:
  generate: { count: 3, interval: "", mapping: 'root = "ride"' }
pipeline:
  processors: [ { tracenone_probe: {} }, { tracenone_probe: {} } ]
output:
  drop: {}
`); err != nil {
		t.Fatal(err)
	}
	st, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Run(ctx); err != nil {
		t.Fatal(err)
	}
	seen.Lock()
	defer seen.Unlock()
	if len(seen.ctxs) != 6 {
		t.Fatalf("probe saw %d messages, want 6", len(seen.ctxs))
	}
	for i, c := range seen.ctxs {
		// context.valueCtx prints its key's type: otel's is traceContextKeyType.
		if str := fmt.Sprint(c); strings.Contains(str, "traceContextKeyType") {
			t.Errorf("message %d: context %s holds a span, want none", i, str)
		}
	}
}

// Start's nil span goes through every Benthos path that starts spans:
// processors that fail (MarkErr logs to the span), branch and workflow
// (child spans of copies), switch, and outputs that write and
// nack. A path that called a method on the span itself would panic here.
func TestNilSpansGoThroughBenthosSpanPaths(t *testing.T) {
	sb := service.NewStreamBuilder()
	if err := sb.SetYAML(`
logger: { level: NONE }
input:
  generate: { count: 20, interval: "", mapping: 'root = {"n": counter()}' }
pipeline:
  processors:
    - mapping: 'root = if this.n % 2 == 0 { throw("even") } else { this }'
    - catch: [ { mapping: 'root = this.merge({"caught": true})' } ]
    - branch: { request_map: 'root = this', processors: [ { mapping: 'root.b = 1' } ], result_map: 'root.b = this.b' }
    - workflow: { branches: { w: { request_map: 'root = this', processors: [ { mapping: 'root.w = 2' } ], result_map: 'root.w = this.w' } } }
    - switch: [ { check: 'this.n > 10', processors: [ { mapping: 'root.big = true' } ] } ]
output:
  fallback:
    - reject: "refused"
    - drop: {}
`); err != nil {
		t.Fatal(err)
	}
	st, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// A span context without trace and span IDs (flags or a trace state only)
// is not a parent: Start leaves the context as it is, so what it carries is
// passed on unchanged, and hands Benthos no span.
func TestNoneTracerLeavesAnInvalidSpanContextInPlace(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=value")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceFlags: trace.FlagsSampled, TraceState: ts})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	got, span := Provider{}.Tracer("benthos").Start(ctx, "op")
	if got != ctx || span != nil {
		t.Fatalf("Start changed the context (%v) or handed out a span (%T)", got != ctx, span)
	}
	if back := trace.SpanContextFromContext(got); !back.Equal(sc) {
		t.Fatalf("span context read back %v, want %v", back, sc)
	}
}
