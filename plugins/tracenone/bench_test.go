package tracenone

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// benchMessages is how many messages one benchmark op drains.
const benchMessages = 100_000

func init() {
	// Benthos' own `none` under another name, to compare in one binary.
	service.MustRegisterOtelTracerProvider("otel_noop", service.NewConfigSpec().Summary("test only").
		Field(service.NewObjectField("").Default(map[string]any{})),
		func(*service.ParsedConfig) (trace.TracerProvider, error) { return noop.NewTracerProvider(), nil })
	service.MustRegisterBatchInput("tracenone_batches", service.NewConfigSpec().Summary("test only"),
		func(*service.ParsedConfig, *service.Resources) (service.BatchInput, error) { return &batches{}, nil })
	service.MustRegisterBatchProcessor("tracenone_pass", service.NewConfigSpec().Summary("test only"),
		func(*service.ParsedConfig, *service.Resources) (service.BatchProcessor, error) { return pass{}, nil })
}

// batches hands out benchMessages messages in batches of 2048, as
// config/rides.yaml's input does.
type batches struct{ sent int }

func (b *batches) Connect(context.Context) error { return nil }
func (b *batches) Close(context.Context) error   { return nil }

func (b *batches) ReadBatch(context.Context) (service.MessageBatch, service.AckFunc, error) {
	if b.sent >= benchMessages {
		return nil, nil, service.ErrEndOfInput
	}
	n := min(2048, benchMessages-b.sent)
	batch := make(service.MessageBatch, n)
	for i := range batch {
		batch[i] = service.NewMessage([]byte(`{}`))
	}
	b.sent += n
	return batch, func(context.Context, error) error { return nil }, nil
}

// pass is a batch processor that does nothing: what is left is Benthos'
// per-message and per-processor plumbing, spans included.
type pass struct{}

func (pass) ProcessBatch(_ context.Context, b service.MessageBatch) ([]service.MessageBatch, error) {
	return []service.MessageBatch{b}, nil
}
func (pass) Close(context.Context) error { return nil }

// BenchmarkStreamTracer drains benchMessages messages through two batch
// processors (from_json and tumbling_window's place in config/rides.yaml)
// to drop, with Benthos' no-op tracer and with this package's `none`. One
// op = one drain; ns and allocations are reported per message.
//
//	go test ./plugins/tracenone/ -run '^$' -bench StreamTracer -benchmem -count 5
func BenchmarkStreamTracer(b *testing.B) {
	for _, tracer := range []string{"otel_noop", "none"} {
		b.Run(tracer, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				sb := service.NewStreamBuilder()
				if err := sb.SetYAML(fmt.Sprintf(`
logger: { level: NONE }
tracer: { %s: {} }
input: { tracenone_batches: {} }
pipeline: { threads: 1, processors: [ { tracenone_pass: {} }, { tracenone_pass: {} } ] }
output: { drop: {} }
`, tracer)); err != nil {
					b.Fatal(err)
				}
				st, err := sb.Build()
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err = st.Run(ctx)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchMessages), "ns/msg")
		})
	}
}

// BenchmarkStart is one span start on a message's default context, the call
// Benthos makes per message per processor.
func BenchmarkStart(b *testing.B) {
	tr := Provider{}.Tracer("bench")
	type tagKey struct{}
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{
		{"background", context.Background()},
		// What a pipeline thread's processors see: the sort group's tag.
		{"sort_group_tag", context.WithValue(context.Background(), tagKey{}, 1)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = tr.Start(c.ctx, "processor")
			}
		})
	}
}
