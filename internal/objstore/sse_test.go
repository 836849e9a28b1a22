package objstore_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
)

// headerRecorder keeps the headers of PUT requests.
type headerRecorder struct {
	mu   sync.Mutex
	puts []http.Header
}

func (h *headerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut {
		h.mu.Lock()
		h.puts = append(h.puts, r.Header.Clone())
		h.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestS3SendsEncryptionAndConditionHeaders(t *testing.T) {
	ctx := context.Background()
	fake := s3fake.Start(t, "bkt")
	for _, c := range []struct{ sse, key, wantSSE, wantKey string }{
		{"AES256", "", "AES256", ""},
		{"aws:kms", "arn:aws:kms:eu-west-3:1:key/k", "aws:kms", "arn:aws:kms:eu-west-3:1:key/k"},
	} {
		rec := &headerRecorder{}
		st, err := objstore.Open(ctx, "s3://bkt/p", objstore.Options{S3: objstore.S3Options{
			Endpoint: fake.Endpoint, ForcePathStyle: true, AccessKeyID: "k", SecretAccessKey: "s",
			SSE: c.sse, KMSKeyID: c.key, HTTPClient: &http.Client{Transport: rec},
		}})
		if err != nil {
			t.Fatal(err)
		}
		_ = st.Put(ctx, "a", []byte("x"))
		_ = st.PutIfAbsent(ctx, "b-"+c.sse, []byte("x"))
		if len(rec.puts) != 2 {
			t.Fatalf("%d PUTs recorded", len(rec.puts))
		}
		for i, h := range rec.puts {
			if got := h.Get("X-Amz-Server-Side-Encryption"); got != c.wantSSE {
				t.Errorf("sse %s PUT %d: encryption header %q", c.sse, i, got)
			}
			if got := h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); got != c.wantKey {
				t.Errorf("sse %s PUT %d: kms key header %q", c.sse, i, got)
			}
		}
		if rec.puts[0].Get("If-None-Match") != "" || rec.puts[1].Get("If-None-Match") != "*" {
			t.Errorf("If-None-Match: Put %q, PutIfAbsent %q; want none and *", rec.puts[0].Get("If-None-Match"), rec.puts[1].Get("If-None-Match"))
		}
	}
}
