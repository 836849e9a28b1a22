package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// tmpPrefix marks in-progress files; List hides them and readers of Delta
// ignore hidden files.
const tmpPrefix = ".tmp-"

// Local is a Store rooted at a directory.
type Local struct {
	root string
}

// staleTempAge is how old a temp file must be to be taken for one a killed
// writer left: a live write keeps its temp file for milliseconds.
const staleTempAge = time.Hour

// NewLocal returns a store rooted at dir (created if missing). Temp files
// that writers killed mid-write left in it (or one directory down, e.g. a
// Delta log) are removed once older than staleTempAge: nothing else would
// (red team rt21: a 93 KB one after a SIGKILL).
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: create %s: %w", dir, err)
	}
	sweepTemps(dir, 1, time.Now().Add(-staleTempAge))
	return &Local{root: dir}, nil
}

// sweepTemps removes the temp files of dir and, depth levels down, of its
// subdirectories, modified before cutoff. Best effort: errors are ignored.
func sweepTemps(dir string, depth int, cutoff time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		switch {
		case e.IsDir() && depth > 0:
			sweepTemps(filepath.Join(dir, e.Name()), depth-1, cutoff)
		case !e.IsDir() && strings.HasPrefix(e.Name(), tmpPrefix):
			if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

func (l *Local) URL() string { return "file://" + filepath.ToSlash(l.root) }

// Root is the directory this store writes into.
func (l *Local) Root() string { return l.root }

func (l *Local) path(key string) (string, error) {
	if err := cleanKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

func (l *Local) Get(_ context.Context, key string) ([]byte, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// writeTemp writes data to a synced temp file beside the final path.
func writeTemp(final string, data []byte) (string, error) {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(final)+"-*")
	if err != nil {
		return "", err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", werr
	}
	return f.Name(), nil
}

// syncDir makes a rename/link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (l *Local) Put(_ context.Context, key string, data []byte) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(p, data)
	if err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return syncDir(filepath.Dir(p))
}

// PutIfAbsent links a complete temp file to the final name: link(2) fails
// with EEXIST instead of replacing, and the file is never seen half written.
func (l *Local) PutIfAbsent(_ context.Context, key string, data []byte) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(p, data)
	if err != nil {
		return fmt.Errorf("objstore: put-if-absent %s: %w", key, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return fmt.Errorf("objstore: put-if-absent %s: %w", key, err)
	}
	return syncDir(filepath.Dir(p))
}

func (l *Local) List(_ context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	// Walk only the directory part of the prefix.
	base := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = prefix[:i]
	}
	start := filepath.Join(l.root, filepath.FromSlash(base))
	var out []ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) || key <= startAfter {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (l *Local) Stat(_ context.Context, key string) (ObjectInfo, error) {
	p, err := l.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	info, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, ErrNotFound
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
