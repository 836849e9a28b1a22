package objstore

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	memMu     sync.Mutex
	memStores = map[string]*MemStore{}
)

// Memory returns the process-wide in-memory store with this name, creating it
// on first use, so a test can "restart" a writer on the same table.
func Memory(name string) *MemStore {
	memMu.Lock()
	defer memMu.Unlock()
	s, ok := memStores[name]
	if !ok {
		s = &MemStore{name: name, objs: map[string]memObj{}}
		memStores[name] = s
	}
	return s
}

// MemStore is an in-memory Store, safe for concurrent use.
type MemStore struct {
	name string
	mu   sync.Mutex
	objs map[string]memObj
}

type memObj struct {
	data []byte
	mod  time.Time
}

func (m *MemStore) URL() string { return "memory://" + m.name }

func (m *MemStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), o.data...), nil
}

func (m *MemStore) Put(_ context.Context, key string, data []byte) error {
	if err := cleanKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = memObj{append([]byte(nil), data...), time.Now()}
	return nil
}

func (m *MemStore) PutIfAbsent(_ context.Context, key string, data []byte) error {
	if err := cleanKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok {
		return ErrExists
	}
	m.objs[key] = memObj{append([]byte(nil), data...), time.Now()}
	return nil
}

func (m *MemStore) List(_ context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ObjectInfo
	for k, o := range m.objs {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			out = append(out, ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.mod})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (m *MemStore) Stat(_ context.Context, key string) (ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return ObjectInfo{}, ErrNotFound
	}
	return ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.mod}, nil
}

func (m *MemStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}
