package kafkafranz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// policyOf parses a batching policy as the input does.
func policyOf(t testing.TB, yaml string) (service.BatchPolicy, bool) {
	t.Helper()
	spec := service.NewConfigSpec().Field(service.NewBatchPolicyField("b"))
	conf, err := spec.ParseYAML("b:\n"+yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := conf.FieldBatchPolicy("b")
	if err != nil {
		t.Fatal(err)
	}
	procs, err := conf.FieldAny("b", "processors")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := procs.([]any)
	return p, len(list) > 0
}

// manualClock is an injected clock that moves only when told.
type manualClock struct{ t time.Time }

func (c *manualClock) now() time.Time { return c.t }

func TestCountBatcherCutsWhereBenthosBatcherCuts(t *testing.T) {
	for _, yaml := range []string{
		"  count: 3\n",
		"  byte_size: 10\n",
		"  count: 4\n  byte_size: 13\n",
	} {
		t.Run(yaml, func(t *testing.T) {
			p, procs := policyOf(t, yaml)
			if !simplePolicy(p, procs) {
				t.Fatalf("%q: not a count/byte_size/period policy", yaml)
			}
			benthos, err := p.NewBatcher(service.MockResources())
			if err != nil {
				t.Fatal(err)
			}
			clock := &manualClock{t: time.Unix(0, 0)}
			ours, err := newCountBatcher(p, nil, clock.now)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i := range 40 {
				body := []byte(fmt.Sprintf("m%d", i%7*11)) // 2 or 3 bytes
				want, got := benthos.Add(service.NewMessage(body)), ours.Add(service.NewMessage(body))
				if got != want {
					t.Fatalf("add %d: flush %v, Benthos' batcher says %v", i, got, want)
				}
				if !want {
					continue
				}
				wb, _ := benthos.Flush(ctx)
				gb, _ := ours.Flush(ctx)
				if len(gb) != len(wb) {
					t.Fatalf("add %d: batch of %d, Benthos' batcher %d", i, len(gb), len(wb))
				}
				for j := range gb {
					w, _ := wb[j].AsBytes()
					g, _ := gb[j].AsBytes()
					if string(g) != string(w) {
						t.Fatalf("add %d: message %d is %q, want %q", i, j, g, w)
					}
				}
			}
		})
	}
}

func TestCountBatcherPeriodRunsFromCreationAndEachFlush(t *testing.T) {
	p, procs := policyOf(t, "  count: 100\n  period: 1s\n")
	if !simplePolicy(p, procs) {
		t.Fatal("count + period: not a simple policy")
	}
	clock := &manualClock{t: time.Unix(100, 0)}
	b, err := newCountBatcher(p, nil, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := b.UntilNext(); !ok || d != time.Second {
		t.Fatalf("UntilNext at creation = %v, %v; want 1s, true", d, ok)
	}
	clock.t = clock.t.Add(400 * time.Millisecond)
	for i := range periodStride {
		if b.Add(service.NewMessage([]byte("a"))) {
			t.Fatalf("add %d: flush asked 400ms into a 1s period", i)
		}
	}
	if d, _ := b.UntilNext(); d != 600*time.Millisecond {
		t.Fatalf("UntilNext = %v, want 600ms", d)
	}
	clock.t = clock.t.Add(700 * time.Millisecond)
	if d, _ := b.UntilNext(); d != 1 {
		t.Fatalf("UntilNext past the period = %v, want 1ns (as Benthos)", d)
	}
	// Past the period, a flush is asked within periodStride messages.
	asked := 0
	for i := 1; i <= periodStride; i++ {
		if b.Add(service.NewMessage([]byte("b"))) {
			asked = i
			break
		}
	}
	if asked == 0 {
		t.Fatalf("no flush asked in the %d messages after the period ended", periodStride)
	}
	batch, _ := b.Flush(context.Background())
	if len(batch) != periodStride+asked {
		t.Fatalf("flushed %d messages, want %d", len(batch), periodStride+asked)
	}
	if d, _ := b.UntilNext(); d != time.Second {
		t.Fatalf("UntilNext after a flush = %v, want a new 1s period", d)
	}
	if batch, _ := b.Flush(context.Background()); batch != nil {
		t.Fatalf("an empty flush gave %d messages", len(batch))
	}
}

// Benthos' batcher reads the clock for every message; this one every
// periodStride messages (1.3 % of the rides job's CPU in a profile).
func TestCountBatcherReadsTheClockOncePerStride(t *testing.T) {
	p, _ := policyOf(t, "  count: 2048\n  period: 1s\n")
	reads := 0
	b, err := newCountBatcher(p, nil, func() time.Time { reads++; return time.Unix(0, 0) })
	if err != nil {
		t.Fatal(err)
	}
	reads = 0
	for range 10 * periodStride {
		b.Add(service.NewMessage([]byte("x")))
	}
	if reads != 10 {
		t.Fatalf("%d clock reads for %d messages, want 10", reads, 10*periodStride)
	}
}

func TestPoliciesWithACheckOrProcessorsKeepBenthosBatcher(t *testing.T) {
	for yaml, want := range map[string]bool{
		"  count: 2048\n  period: 1s\n":                                true,
		"  count: 10\n  check: this.last == true\n":                    false,
		"  count: 10\n  processors:\n    - archive: {format: lines}\n": false,
	} {
		p, procs := policyOf(t, yaml)
		if got := simplePolicy(p, procs); got != want {
			t.Errorf("%q: simplePolicy = %v, want %v", yaml, got, want)
		}
	}
}

// The reason for countBatcher: a message handed out costs no allocation of
// the batcher's beyond one slice per batch. Benthos' batcher wraps every
// message again at Flush and regrows its slices for every batch.
func TestCountBatcherAllocatesOncePerBatch(t *testing.T) {
	p, _ := policyOf(t, "  count: 512\n  period: 1s\n")
	b, err := newCountBatcher(p, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]*service.Message, 512)
	for i := range msgs {
		msgs[i] = service.NewMessage([]byte("x"))
	}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(20, func() {
		for _, m := range msgs {
			b.Add(m)
		}
		_, _ = b.Flush(ctx)
	})
	if allocs > 1 {
		t.Fatalf("%.0f allocations per batch of 512, want 1", allocs)
	}
}
