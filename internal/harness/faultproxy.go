package harness

import (
	"context"
	"errors"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// ProxyFaults are the probabilities (0..1) of each injected fault per request.
type ProxyFaults struct {
	Err503 float64 // answer 503 SlowDown without forwarding
	Lost   float64 // forward, then drop the connection: applied, but the client never hears
	Hang   float64 // hold the request HangFor, then drop it unanswered (a timeout)
	// Slow delays a request by HangFor before forwarding it.
	Slow    float64
	HangFor time.Duration
}

// FaultProxy is an HTTP reverse proxy on 127.0.0.1 in front of an S3 server
// that injects 5xx answers, lost responses, hangs and delays at random
// (seeded). Counts of what it did are in the exported counters.
type FaultProxy struct {
	Addr string // 127.0.0.1:port

	Requests, Injected503, InjectedLost, InjectedHang, InjectedSlow atomic.Int64

	mu     sync.Mutex
	rng    *rand.Rand
	faults ProxyFaults
	rp     *httputil.ReverseProxy
	srv    *http.Server
}

type lostKey struct{}

var errLost = errors.New("faultproxy: response dropped on purpose")

// StartFaultProxy proxies to target (host:port) with no faults until SetFaults.
func StartFaultProxy(target string, seed int64) (*FaultProxy, error) {
	u := &url.URL{Scheme: "http", Host: target}
	p := &FaultProxy{rng: rand.New(rand.NewSource(seed))}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 5 * time.Second}
	p.rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.Context().Value(lostKey{}) != nil {
			return errLost
		}
		return nil
	}
	p.rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, errLost) {
			drop(w)
			return
		}
		http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.Addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

// SetFaults changes the fault rates.
func (p *FaultProxy) SetFaults(f ProxyFaults) {
	p.mu.Lock()
	p.faults = f
	p.mu.Unlock()
}

func (p *FaultProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle)}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop refuses connections (the endpoint is down); Restart serves again on
// the same address.
func (p *FaultProxy) Stop() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart serves again on the same address.
func (p *FaultProxy) Restart() error {
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

func (p *FaultProxy) pick() (string, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, x := p.faults, p.rng.Float64()
	for _, c := range []struct {
		name string
		prob float64
	}{{"503", f.Err503}, {"lost", f.Lost}, {"hang", f.Hang}, {"slow", f.Slow}} {
		if x < c.prob {
			return c.name, f.HangFor
		}
		x -= c.prob
	}
	return "", 0
}

func (p *FaultProxy) handle(w http.ResponseWriter, r *http.Request) {
	p.Requests.Add(1)
	kind, d := p.pick()
	switch kind {
	case "503":
		p.Injected503.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected by faultproxy</Message></Error>`))
		return
	case "hang":
		p.InjectedHang.Add(1)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		drop(w)
		return
	case "slow":
		p.InjectedSlow.Add(1)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	case "lost":
		p.InjectedLost.Add(1)
		r = r.WithContext(context.WithValue(r.Context(), lostKey{}, true))
	}
	p.rp.ServeHTTP(w, r)
}

// drop closes the client connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
