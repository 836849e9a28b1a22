package franz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/ownership"
)

func TestParseSourceKey(t *testing.T) {
	k, err := ParseSourceKey("a.b-c/3/42")
	if err != nil || k != (SourceKey{"a.b-c", 3, 42}) {
		t.Fatalf("got %+v, %v", k, err)
	}
	for _, bad := range []string{"", "t/1", "/1/2", "t/x/2", "t/1/-2", "t/-1/2"} {
		if _, err := ParseSourceKey(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A restarted writer finds the keys its group wrote before the crash that
// are at or after the group's committed offsets, and only those (not another
// group's, nor a record without the group header); a failed write makes the
// topic be read again.
func TestDedupeFindsWrittenKeysAfterCommittedOffsets(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "dlq"), kfake.SeedTopics(1, "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	written := func(o int, group string) []kgo.RecordHeader {
		h := []kgo.RecordHeader{{Key: "source_offset", Value: fmt.Appendf(nil, "src/0/%d", o)}}
		if group != "" {
			h = append(h, kgo.RecordHeader{Key: "source_group", Value: []byte(group)})
		}
		return h
	}
	// The previous process wrote src/0/0..9 (one without the headers);
	// another job (group other) wrote src/0/11, an older version src/0/12
	// without a group header.
	for o := 0; o < 13; o++ {
		r := &kgo.Record{Topic: "dlq", Partition: int32(o % 2), Value: []byte("x")}
		switch {
		case o < 10 && o != 7:
			r.Headers = written(o, "g")
		case o == 11:
			r.Headers = written(o, "other")
		case o == 12:
			r.Headers = written(o, "")
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// ... and committed the input up to offset 5.
	adm := kadm.NewClient(cl)
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "src", Partition: 0, At: 5})
	if _, err := adm.CommitOffsets(ctx, "g", os); err != nil {
		t.Fatal(err)
	}
	d := NewDedupe(DedupeConfig{Client: ClientConfig{SeedBrokers: c.ListenAddrs()}, Group: "g", Header: "source_offset", GroupHeader: "source_group"}, nil)
	if err := d.Prepare(ctx, []string{"dlq"}); err != nil {
		t.Fatal(err)
	}
	for o := int64(0); o < 14; o++ {
		want := o >= 5 && o < 10 && o != 7
		if got := d.Seen(SourceKey{"src", 0, o}); got != want {
			t.Errorf("Seen(src/0/%d) = %v, want %v", o, got, want)
		}
	}
	if len(d.seen) != 4 {
		t.Errorf("remembers %d keys, want 4 (none below the committed offset)", len(d.seen))
	}
	// A write of src/0/10 failed, but landed: the next Prepare reads it.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "dlq", Value: []byte("x"),
		Headers: written(10, "g")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := d.Prepare(ctx, []string{"dlq"}); err != nil || d.Seen(SourceKey{"src", 0, 10}) {
		t.Fatalf("scanned again without a failure (err %v)", err)
	}
	d.Failed("dlq")
	if err := d.Prepare(ctx, []string{"dlq"}); err != nil || !d.Seen(SourceKey{"src", 0, 10}) {
		t.Fatalf("src/0/10 not found after a failed write (err %v)", err)
	}
}

// A partition this process gains may come from a process that crashed after
// writing some of its dead letters: after any change of the process's
// partitions the topic is read again before the next write, so keys another
// process wrote after our last read are found.
func TestDedupeReadsAgainAfterThePartitionsMoved(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "dlq"), kfake.SeedTopics(2, "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	writeKey := func(p int) {
		r := &kgo.Record{Topic: "dlq", Value: []byte("x"), Headers: []kgo.RecordHeader{
			{Key: "source_offset", Value: fmt.Appendf(nil, "src/%d/0", p)}, {Key: "source_group", Value: []byte("g")}}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	owners := ownership.New()
	we := owners.Owner()
	we.Set("src", 0, true)
	d := NewDedupe(DedupeConfig{Client: ClientConfig{SeedBrokers: c.ListenAddrs()}, Group: "g", Header: "source_offset", GroupHeader: "source_group"}, nil)
	d.owners = owners
	if err := d.Prepare(ctx, []string{"dlq"}); err != nil {
		t.Fatal(err)
	}
	// The other process, owner of src/1, writes its dead letter, then dies;
	// src/1 comes to us.
	writeKey(1)
	if err := d.Prepare(ctx, []string{"dlq"}); err != nil || d.Seen(SourceKey{"src", 1, 0}) {
		t.Fatalf("read again while our partitions did not change (err %v)", err)
	}
	we.Set("src", 1, true)
	if err := d.Prepare(ctx, []string{"dlq"}); err != nil || !d.Seen(SourceKey{"src", 1, 0}) {
		t.Fatalf("src/1/0, written by the partition's previous owner, not found after we gained it (err %v)", err)
	}
}
