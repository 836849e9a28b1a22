package objstore_test

import (
	"context"
	"encoding/base64"
	"hash/crc32"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
)

// tornGets answers the first n GETs with the checksum of other bytes, as a
// store that keeps checksums apart from the data does while an overwrite
// of the object is being published.
type tornGets struct {
	n, gets atomic.Int32
}

func (t *tornGets) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.Method != http.MethodGet || strings.Contains(r.URL.RawQuery, "list-type") {
		return resp, err
	}
	t.gets.Add(1)
	if t.n.Add(-1) >= 0 {
		sum := crc32.ChecksumIEEE([]byte("the next version"))
		resp.Header.Set("X-Amz-Checksum-Crc32", base64.StdEncoding.EncodeToString(
			[]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)}))
	}
	return resp, nil
}

func TestS3GetRereadsABodyThatFailsItsChecksum(t *testing.T) {
	ctx := context.Background()
	fake := s3fake.Start(t, "bkt")
	for _, c := range []struct {
		torn     int32
		wantGets int32
		wantErr  bool
	}{
		{torn: 0, wantGets: 1},
		{torn: 2, wantGets: 3},
		{torn: 100, wantGets: 5, wantErr: true}, // a mismatch that persists is an error
	} {
		tr := &tornGets{}
		st, err := objstore.Open(ctx, "s3://bkt/p", objstore.Options{S3: objstore.S3Options{
			Endpoint: fake.Endpoint, ForcePathStyle: true, AccessKeyID: "k", SecretAccessKey: "s",
			HTTPClient: &http.Client{Transport: tr},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, "_last_checkpoint", []byte("this version")); err != nil {
			t.Fatal(err)
		}
		tr.n.Store(c.torn)
		got, err := st.Get(ctx, "_last_checkpoint")
		switch {
		case c.wantErr && (err == nil || !strings.Contains(err.Error(), "checksum did not match")):
			t.Errorf("torn %d: err %v, want the checksum mismatch", c.torn, err)
		case !c.wantErr && (err != nil || string(got) != "this version"):
			t.Errorf("torn %d: got %q, %v; want the object", c.torn, got, err)
		}
		if n := tr.gets.Load(); n != c.wantGets {
			t.Errorf("torn %d: %d GETs, want %d", c.torn, n, c.wantGets)
		}
	}
}
