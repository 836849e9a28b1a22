package realkafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestCreateRidesTopic is the seed's topic admin (§2.1): `rides` with 6
// partitions, over SASL_SSL like every other client of the cluster.
func TestCreateRidesTopic(t *testing.T) {
	be := needBroker(t)
	adm := be.adminClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A broker reused across runs may hold rides already: start clean.
	if topics, err := adm.ListTopics(ctx, "rides"); err != nil {
		t.Fatal(err)
	} else if topics.Has("rides") {
		if _, err := adm.DeleteTopic(ctx, "rides"); err != nil {
			t.Fatalf("deleting the previous rides topic: %v", err)
		}
		waitTopicGone(t, ctx, adm, "rides")
	}

	if !createRidesWithCLI(t, be) {
		createTopic(t, adm, "rides", 6)
	}

	td := waitTopicServed(t, ctx, adm, "rides")
	if got := len(td.Partitions); got != 6 {
		t.Errorf("rides has %d partitions, want 6", got)
	}
	for _, p := range td.Partitions {
		if len(p.Replicas) != 1 || p.Leader != 1 {
			t.Errorf("partition %d: replicas %v leader %d, want one replica led by node 1", p.Partition, p.Replicas, p.Leader)
		}
	}
}

// waitTopicGone polls metadata until a deleted topic is no longer listed.
func waitTopicGone(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		topics, err := adm.ListTopics(ctx, topic)
		if err == nil && !topics.Has(topic) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s still listed after deletion", topic)
		case <-tick.C:
		}
	}
}
