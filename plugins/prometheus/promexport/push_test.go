package promexport

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

type pushed struct {
	method, path, user, pass string
	rows                     float64
}

// gateway stands in for a push gateway: it accepts what the real client sends
// and decodes the body with the Prometheus parser.
func gateway(t *testing.T) (*httptest.Server, chan pushed) {
	got := make(chan pushed, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		var rows float64
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			var f dto.MetricFamily
			if err := dec.Decode(&f); err != nil {
				if err != io.EOF {
					t.Errorf("push body does not decode: %v", err)
				}
				break
			}
			if f.GetName() == "rows_total" {
				rows = f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		got <- pushed{r.Method, r.URL.Path, u, p, rows}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestPusherPushesOnTickAndOnClose(t *testing.T) {
	r, _ := newReg(t, Options{})
	c := r.Counter("rows_total")()
	srv, got := gateway(t)
	tick := make(chan time.Time)
	p := StartPusher(r.Gatherer(), PushOptions{URL: srv.URL, Job: "rides connect", Username: "u", Password: "s3cret", Tick: tick}, func(err error) { t.Error(err) })

	c.Add(3)
	tick <- time.Time{}
	first := recv(t, got)
	if first.method != http.MethodPut || !strings.HasPrefix(first.path, "/metrics/job/") || first.user != "u" || first.pass != "s3cret" {
		t.Fatalf("push %+v: want PUT /metrics/job/... with basic auth", first)
	}
	if first.rows != 3 {
		t.Errorf("first push rows_total = %v, want 3", first.rows)
	}
	c.Add(4)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if last := recv(t, got); last.rows != 7 {
		t.Errorf("final push rows_total = %v, want 7", last.rows)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case extra := <-got:
		t.Fatalf("second Close pushed again: %+v", extra)
	default:
	}
}

func TestPusherReportsGatewayErrors(t *testing.T) {
	r, _ := newReg(t, Options{})
	r.Counter("rows_total")().Add(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "gateway down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	errs := make(chan error, 4)
	tick := make(chan time.Time)
	p := StartPusher(r.Gatherer(), PushOptions{URL: srv.URL, Job: "j", Tick: tick}, func(err error) { errs <- err })
	tick <- time.Time{}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "push to gateway") {
			t.Errorf("error %v does not say what failed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("push error not reported")
	}
	if err := p.Close(context.Background()); err == nil {
		t.Error("Close: want the final push error")
	}
}

func recv(t *testing.T, ch chan pushed) pushed {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no push received")
	}
	return pushed{}
}

func TestPushTimesOutOnAHungGateway(t *testing.T) {
	r, _ := newReg(t, Options{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select { // hang until the client gives up or the test ends
		case <-req.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	p := StartPusher(r.Gatherer(), PushOptions{URL: srv.URL, Job: "j", Timeout: 50 * time.Millisecond, Tick: make(chan time.Time)}, nil)
	done := make(chan error, 1)
	go func() { done <- p.Close(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Close against a hung gateway returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a hung gateway")
	}
}
