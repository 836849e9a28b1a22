package franz

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTopics(t *testing.T) {
	spec, err := ParseTopics([]string{"rides, other", "third"})
	if err != nil || !reflect.DeepEqual(spec.Topics, []string{"rides", "other", "third"}) || spec.Explicit() {
		t.Fatalf("plain: %+v %v", spec, err)
	}
	spec, err = ParseTopics([]string{"rides:0-2", "rides:5:1200", "x:3"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int32]int64{"rides": {0: -1, 1: -1, 2: -1, 5: 1200}, "x": {3: -1}}
	if !reflect.DeepEqual(spec.Partitions, want) {
		t.Fatalf("explicit: got %v want %v", spec.Partitions, want)
	}
	for _, bad := range [][]string{{"rides:a"}, {"rides:3-1"}, {"rides:0-2:5"}, {":1"}, {"a:1:2:3"}, {"rides", "x:1"}, {"rides:1:-4"}} {
		if _, err := ParseTopics(bad); err == nil || !strings.Contains(err.Error(), "topics") {
			t.Errorf("%v: want an error naming topics, got %v", bad, err)
		}
	}
}

func TestExpandList(t *testing.T) {
	got := ExpandList([]string{"a:9092,b:9092", " ", "c:9092"})
	if !reflect.DeepEqual(got, []string{"a:9092", "b:9092", "c:9092"}) {
		t.Fatal(got)
	}
}
