// Package store is the pure core of the checkpoint cache: a key/value view of
// an objstore.Store (local directory, S3 prefix or memory) in which every
// write replaces a whole object atomically and nothing ever expires.
//
// Crash safety comes from the object store: locally a value is written to a
// synced temp file, renamed over the old one and the directory synced, so a
// reader (or a restart after SIGKILL or power loss) sees the old or the new
// value, never a torn one; on S3 a PUT is atomic per object.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miaradia/rides-connect/internal/objstore"
)

var (
	// ErrNotFound is returned by Get for a missing key.
	ErrNotFound = errors.New("checkpoint: key not found")
	// ErrExists is returned by Add for an existing key.
	ErrExists = errors.New("checkpoint: key already exists")
)

// KV is a crash-safe key/value store over an object store.
type KV struct {
	objs objstore.Store
}

// New wraps an object store.
func New(objs objstore.Store) *KV { return &KV{objs: objs} }

// Open opens the store at url: a plain path, file://, s3://bucket/prefix,
// s3a://bucket/prefix or memory://name.
func Open(ctx context.Context, url string, opts objstore.Options) (*KV, error) {
	objs, err := objstore.Open(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	return New(objs), nil
}

// URL returns the root the store was opened at.
func (kv *KV) URL() string { return kv.objs.URL() }

// Get returns a value or ErrNotFound.
func (kv *KV) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := kv.objs.Get(ctx, ObjectKey(key))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: get %q from %s: %w", key, kv.objs.URL(), err)
	}
	return b, nil
}

// Set writes or atomically replaces a value.
func (kv *KV) Set(ctx context.Context, key string, value []byte) error {
	if err := kv.objs.Put(ctx, ObjectKey(key), value); err != nil {
		return fmt.Errorf("checkpoint: set %q in %s: %w", key, kv.objs.URL(), err)
	}
	return nil
}

// Add writes a value only if the key is absent, else returns ErrExists.
func (kv *KV) Add(ctx context.Context, key string, value []byte) error {
	err := kv.objs.PutIfAbsent(ctx, ObjectKey(key), value)
	if errors.Is(err, objstore.ErrExists) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("checkpoint: add %q in %s: %w", key, kv.objs.URL(), err)
	}
	return nil
}

// Delete removes a key; a missing key is not an error.
func (kv *KV) Delete(ctx context.Context, key string) error {
	if err := kv.objs.Delete(ctx, ObjectKey(key)); err != nil {
		return fmt.Errorf("checkpoint: delete %q in %s: %w", key, kv.objs.URL(), err)
	}
	return nil
}

// ObjectKey maps any cache key to one flat object name: letters, digits, '-'
// and '_' are kept, everything else (including '/' and '.') is %XX-escaped, so
// keys cannot escape the root, collide, or look like temp files.
func ObjectKey(key string) string {
	if key == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
