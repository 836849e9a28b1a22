package window

import (
	"slices"
	"sync"
)

// keptTopicSet is the set of topics a processor keeps state for, which only
// grows: a topic once kept may still have held acks to flush for.
type keptTopicSet struct {
	mu     sync.Mutex
	topics []string
}

func (s *keptTopicSet) add(topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.topics, topic) {
		s.topics = append(s.topics, topic)
	}
}

func (s *keptTopicSet) has(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.topics, topic)
}

// list returns the topics, never nil: an empty list concerns no consumer
// (commitbarrier's nil means all of them).
func (s *keptTopicSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(make([]string, 0, len(s.topics)), s.topics...)
}
