package kafkafranz

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// A changelog read while its topic does not exist yet fails; once the topic
// is created (by the job's output, at start) the next reads see it within
// a second, not after franz-go's 5 s metadata cache.
func TestChangelogSeesATopicCreatedAfterItsFirstRead(t *testing.T) {
	_, addr := newCluster(t)
	cl := franz.NewChangelog(franz.ClientConfig{SeedBrokers: []string{addr}}, "S", testLogger{t})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.Get(ctx, "k"); err == nil || errors.Is(err, franz.ErrChangelogKeyNotFound) {
		t.Fatalf("Get before the topic exists: %v, want a topic error", err)
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	if _, err := kadm.NewClient(admCl).CreateTopic(ctx, 1, 1, nil, "S"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, addr, []*kgo.Record{{Topic: "S", Key: []byte("k"), Value: []byte("v")}})
	created := time.Now()
	for {
		v, err := cl.Get(ctx, "k")
		if err == nil && string(v) == "v" {
			break
		}
		if time.Since(created) > 2*time.Second {
			t.Fatalf("2 s after the topic was created Get still answers %q, %v", v, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the broker's state
	}
}
