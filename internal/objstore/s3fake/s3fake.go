// Package s3fake serves an in-process S3 API (gofakes3, in-memory backend) on
// 127.0.0.1 for tests, so the real aws-sdk-go-v2 code path is exercised.
package s3fake

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running fake S3.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	Backend  *s3mem.Backend
	down     atomic.Bool
}

// SetDown makes every request fail with 503 ServiceUnavailable (true), as
// an S3 outage would, or serves again (false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Start serves a fake S3 with the given buckets; it is stopped by t.Cleanup.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &Server{Endpoint: "http://" + ln.Addr().String(), Backend: be}
	fake := gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>s3fake is down</Message></Error>`))
			return
		}
		fake.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}
