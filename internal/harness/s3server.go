package harness

import (
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server is an S3 API server (gofakes3, in-memory backend) on 127.0.0.1
// that can be stopped and started again on the same port with its objects
// kept: an outage of the object store, not a loss of it.
type S3Server struct {
	Addr    string // 127.0.0.1:port
	Backend *s3mem.Backend

	mu  sync.Mutex
	srv *http.Server
}

// StartS3Server serves a fresh in-memory store with the given buckets.
func StartS3Server(buckets ...string) (*S3Server, error) {
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			return nil, err
		}
	}
	s := &S3Server{Backend: be}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

func (s *S3Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: gofakes3.New(s.Backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the listener and every connection: clients get refused.
func (s *S3Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart serves again on the same address.
func (s *S3Server) Restart() error {
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		return errors.New("s3 server: already running")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.serve(ln)
	return nil
}
