// Package objstore is the one storage abstraction shared by the Delta Lake
// writer and the window checkpoint store: a flat key space rooted at a local
// directory or an S3 prefix, with the put-if-absent primitive Delta commits need.
//
// It imports neither Benthos nor Delta; implementations: local disk (temp file +
// fsync + link/rename) and S3 (aws-sdk-go-v2, If-None-Match: *).
package objstore

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound is returned by Get/Stat for a missing key.
	ErrNotFound = errors.New("objstore: key not found")
	// ErrExists is returned by PutIfAbsent when the key already exists
	// (local: link EEXIST; S3: 412 PreconditionFailed).
	ErrExists = errors.New("objstore: key already exists")
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string // relative to the store root, '/'-separated
	Size    int64
	ModTime time.Time
}

// Store is a key space rooted at a directory or an S3 bucket+prefix. Keys are
// relative, '/'-separated, never starting with '/'.
type Store interface {
	// Get returns the whole object or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put writes or replaces an object; readers see the old or the new
	// content, never a partial one (local: temp + fsync + rename).
	Put(ctx context.Context, key string, data []byte) error
	// PutIfAbsent creates an object only if the key does not exist and
	// returns ErrExists otherwise; never overwrites, never exposes a partial
	// object.
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// List returns objects whose key starts with prefix and sorts after
	// startAfter (may be ""), in lexical key order.
	List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error)
	// Stat returns an object's info or ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes an object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// URL is the root as the user gave it (s3://bucket/prefix, file:///dir).
	URL() string
}
