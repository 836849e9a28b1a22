package realkafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/miaradia/rides-connect/internal/harness"
)

// TestTransactionalCopyExactlyOnceAfterSIGKILL: the rides-connect binary
// copies topic A (3 partitions, 20 000 records) to B in the kafka_franz
// input's transactions, on a real broker over SASL_SSL. It is SIGKILLed
// several times mid-run (one time while a second replica had joined), one
// replica is stopped (SIGSTOP) past its session timeout while another takes
// over and then resumed, and a read_committed reader of B then finds every
// record of A exactly once.
func TestTransactionalCopyExactlyOnceAfterSIGKILL(t *testing.T) {
	const records = 20000
	be := needBroker(t)
	adm := be.adminClient(t)
	src, dst := uniqueName("txn-src"), uniqueName("txn-dst")
	createTopic(t, adm, src, 3)
	createTopic(t, adm, dst, 3)
	group := uniqueName("txn-copy")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	produceNumbered(ctx, t, be, src, records, 3)

	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, err := harness.BuildBinary(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "copy.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
http: { address: "${HTTP_ADDRESS}" }
input:
  label: src
  kafka_franz:
    seed_brokers: [ %[1]s ]
    topics: [ %[2]s ]
    consumer_group: %[3]s
    checkpoint_limit: 300
    batching: { count: 100, period: 20ms }
    transaction:
      enabled: true
      id: ${TXN_ID}
      timeout: 10s
      commit_period: 100ms
    session_timeout: 6s
    heartbeat_interval: 1s
%[5]s
rate_limit_resources:
  - label: pace # so that the kills land mid-run
    local: { count: 100, interval: 20ms }
pipeline:
  threads: 1
  processors:
    - rate_limit: { resource: pace }
    - mapping: root = content().uppercase()
output:
  kafka_franz:
    seed_brokers: [ %[1]s ]
    topic: %[4]s
    key: ${! @kafka_key }
    transaction: { input: src }
%[6]s
`, be.saslSSL, src, group, dst, be.securityYAML("    "), be.securityYAML("    "))), 0o600); err != nil {
		t.Fatal(err)
	}
	run := 0
	start := func(id string) *harness.Process {
		t.Helper()
		addr, err := harness.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		run++
		env := append(os.Environ(), "HTTP_ADDRESS="+addr, "TXN_ID="+id, "KAFKA_USER="+be.user, "KAFKA_PASS="+be.pass)
		p, err := harness.Start(bin, []string{"-c", cfg}, env, filepath.Join(dir, fmt.Sprintf("run-%02d.log", run)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		return p
	}
	progress := func() int64 { return harness.Committed(ctx, adm, group, src) }
	var done int64
	waitFor := func(d int64) {
		t.Helper()
		want := min(done+d, records)
		deadline := time.Now().Add(3 * time.Minute)
		for done = progress(); done < want; done = progress() {
			if time.Now().After(deadline) {
				t.Fatalf("group %s committed %d records, want %d (logs in %s)", group, done, want, dir)
			}
			time.Sleep(100 * time.Millisecond) // polling another process's commits
		}
	}

	kills := 0
	for round := 0; round < 3 && done < records; round++ {
		p := start(fmt.Sprintf("copy-%d", round%2))
		if round == 1 {
			waitFor(1000)
			other := start("copy-x") // a second replica joins mid-run
			waitFor(1000)
			p.Kill()
			kills++
			p = other
		}
		waitFor(2500)
		p.Kill() // SIGKILL: the open transaction is left to the broker
		kills++
		t.Logf("round %d: SIGKILLed with %d records committed", round, done)
	}
	if kills < 4 {
		t.Fatalf("only %d kills before the copy was done: recovery not exercised", kills)
	}
	// A zombie: a replica stopped (SIGSTOP) past its session timeout while
	// another takes its partitions over, then resumed: its open transaction
	// must not commit.
	zombie := start("copy-z")
	zombieLog := filepath.Join(dir, fmt.Sprintf("run-%02d.log", run))
	waitFor(1000)
	if err := syscall.Kill(zombie.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	other := start("copy-y")
	waitFor(2000) // the other replica commits: the zombie's session expired
	if err := syscall.Kill(zombie.PID(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(1000)
	zombie.Kill()
	other.Kill()
	t.Logf("zombie phase: %d records committed", done)
	if b, err := os.ReadFile(zombieLog); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "transaction") {
				t.Logf("zombie: %.300s", line)
			}
		}
	}
	last := start("copy-0")
	waitFor(records)
	if err := last.Stop(30 * time.Second); err != nil {
		t.Logf("stopping the last run: %v", err)
	}

	got := readCommitted(ctx, t, be, adm, dst)
	bad := checkCopiedOnce(t, dst, got, records)
	if len(got) != records {
		t.Errorf("%s holds %d committed records, want %d (%d records wrong)", dst, len(got), records, bad)
	}
	t.Logf("%s: %d committed records after %d SIGKILLs", dst, len(got), kills)
}

// produceNumbered writes n records (key k-<i>, value v-<i>) to topic,
// record i to partition i mod partitions.
func produceNumbered(ctx context.Context, t *testing.T, be brokerEnv, topic string, n, partitions int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, "v-%d", i)}
	}
	if err := be.producer(t).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// checkCopiedOnce fails the test for each of the n upper-cased source values
// ("V-<i>") that got (dst read committed) does not hold exactly once (the
// first 10 of them) and returns how many there were.
func checkCopiedOnce(t *testing.T, dst string, got []string, n int) int {
	t.Helper()
	off := harness.CountsOff(got, n, func(i int) string { return fmt.Sprintf("V-%d", i) })
	for _, o := range off[:min(len(off), 10)] {
		t.Errorf("%s, read_committed: %s", dst, o)
	}
	return len(off)
}

// readCommitted reads topic with read_committed to its end, once no
// transaction is open on it (the broker aborts those of killed processes
// after their timeout), and returns the values.
func readCommitted(ctx context.Context, t *testing.T, be brokerEnv, adm *kadm.Client, topic string) []string {
	t.Helper()
	ends, err := harness.AwaitNoOpenTransaction(ctx, adm, topic, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	cl := be.consumer(t, kgo.ConsumeTopics(topic), kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	vals, err := harness.ValuesUpTo(ctx, cl, ends)
	if err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return vals
}

// consumer is an independent franz-go client on the SASL_SSL listener.
func (be brokerEnv) consumer(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	pem, err := os.ReadFile(be.caPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(be.saslSSL),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: be.user, Pass: be.pass}.AsSha512Mechanism())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
