package realkafka

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

const (
	// retryWindow is how long the pipeline must keep retrying; the broker
	// logging a failed attempt at or after first+retryWindow ends the check.
	retryWindow = 10 * time.Second
	// maxAttemptsInWindow bounds authentication attempts in that window.
	// Benthos' connection back-off (100 ms growing to 1 s) gives about a dozen;
	// a client retrying without back-off makes hundreds.
	maxAttemptsInWindow = 30
	// minLastGap: with back-off, the gaps between attempts grow to at least this.
	minLastGap = 400 * time.Millisecond
)

// TestWrongPassword checks, for our input and our output, that a wrong SCRAM
// password gives an error naming the mechanism and the user (never the
// password) and that the pipeline keeps retrying with back-off. The attempts
// are counted where they cannot be faked: the broker's own log of failed
// authentications.
func TestWrongPassword(t *testing.T) {
	be := needBroker(t)
	if be.serverLog == "" {
		t.Fatal("KAFKA_SERVER_LOG is unset: the broker's log is where attempts are counted")
	}
	adm := be.adminClient(t)
	// No "rides" in names here: the user is "rides" and must be found by name in the error.
	topic := uniqueName("badauth")
	createTopic(t, adm, topic, 1)
	wrong := "wrong-" + uniqueName("pw")

	t.Run("input", func(t *testing.T) {
		sb, rec, logs := observedBuilder(t)
		sb.SetEnvVarLookupFunc(envLookup(be.user, wrong))
		err := sb.AddInputYAML(fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %s ]
  topics: [ %s ]
  consumer_group: %s
  start_offset: earliest
%s
`, be.saslSSL, topic, uniqueName("realkafka-badauth"), be.securityYAML("  ")))
		if err != nil {
			t.Fatal(err)
		}
		var delivered atomic.Int64
		if err := sb.AddConsumerFunc(func(context.Context, *service.Message) error {
			delivered.Add(1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		checkRetriesWithBackoff(t, be, sb, nil, wrong)
		checkAuthErrorLogged(t, logs.String(), be, wrong)
		if n := delivered.Load(); n != 0 {
			t.Errorf("%d messages delivered with a wrong password", n)
		}
		t.Logf("input_connection_failed = %d", rec.get("input_connection_failed"))
	})

	t.Run("output", func(t *testing.T) {
		sb, rec, logs := observedBuilder(t)
		sb.SetEnvVarLookupFunc(envLookup(be.user, wrong))
		produce, err := sb.AddProducerFunc()
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.AddOutputYAML(fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %s ]
  topic: %s
%s
`, be.saslSSL, topic, be.securityYAML("  "))); err != nil {
			t.Fatal(err)
		}
		// One message waits for the output for the whole check; it must not
		// be acknowledged.
		acked := make(chan error, 1)
		send := func(ctx context.Context) {
			acked <- produce(ctx, service.NewMessage([]byte(rideValue(1))))
		}
		checkRetriesWithBackoff(t, be, sb, send, wrong)
		checkAuthErrorLogged(t, logs.String(), be, wrong)
		if err := <-acked; err == nil {
			t.Error("a message was acknowledged by an output with a wrong password")
		}
		t.Logf("output_connection_failed = %d", rec.get("output_connection_failed"))
	})
}

// checkRetriesWithBackoff runs the stream until the broker has seen failed
// authentications for retryWindow (or a deadline passes) and checks how many
// attempts it saw in that window and that the gaps between them grew.
func checkRetriesWithBackoff(t *testing.T, be brokerEnv, sb *service.StreamBuilder, send func(context.Context), wrong string) {
	t.Helper()
	before := authFailures(t, be.serverLog)
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), retryWindow+50*time.Second)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- stream.Run(ctx) }()
	sendCtx, sendCancel := context.WithCancel(ctx)
	defer sendCancel()
	if send != nil {
		go send(sendCtx)
	}

	var attempts []time.Time
	poll := time.NewTicker(200 * time.Millisecond) // polls the broker log
	defer poll.Stop()
	for done := false; !done; {
		select {
		case err := <-runErr:
			t.Fatalf("the pipeline stopped instead of retrying: %v", err)
		case <-ctx.Done():
			t.Fatalf("the broker saw %d failed authentications, none %v after the first: the pipeline stopped retrying",
				len(attempts), retryWindow)
		case <-poll.C:
			attempts = authFailures(t, be.serverLog)[len(before):]
			done = len(attempts) > 0 && attempts[len(attempts)-1].Sub(attempts[0]) >= retryWindow
		}
	}
	// Withdraw the waiting message (nacked). Benthos' graceful stop waits for
	// an output that never connects (its connect loop does not watch for the
	// stop), so allow it 3/4 of 4 s, then Stop ends the stream unordered.
	sendCancel()
	if err := stream.StopWithin(4 * time.Second); err != nil {
		t.Errorf("stopping the stream: %v", err)
	}
	cancel()

	var inWindow []time.Time
	for _, a := range attempts {
		if a.Sub(attempts[0]) < retryWindow {
			inWindow = append(inWindow, a)
		}
	}
	var gaps []time.Duration
	for i := 1; i < len(inWindow); i++ {
		gaps = append(gaps, inWindow[i].Sub(inWindow[i-1]))
	}
	t.Logf("broker saw %d failed authentications in the first %v; gaps: %v", len(inWindow), retryWindow, gaps)
	if len(inWindow) > maxAttemptsInWindow {
		t.Errorf("%d authentication attempts in %v: the pipeline retries without back-off (want <= %d)",
			len(inWindow), retryWindow, maxAttemptsInWindow)
	}
	if len(gaps) == 0 || gaps[len(gaps)-1] < minLastGap {
		t.Errorf("the gap between the last attempts is under %v: no back-off", minLastGap)
	}
}

// checkAuthErrorLogged wants a logged error naming the mechanism and the user,
// and neither the wrong nor the real password anywhere in the logs.
func checkAuthErrorLogged(t *testing.T, logs string, be brokerEnv, wrong string) {
	t.Helper()
	var found string
	for _, line := range strings.Split(logs, "\n") {
		l := strings.ToLower(line)
		if strings.Contains(line, "SCRAM-SHA-512") && strings.Contains(l, "auth") &&
			strings.Contains(line, be.user) {
			found = line
			break
		}
	}
	if found == "" {
		t.Errorf("no log line names the mechanism SCRAM-SHA-512, the user %q and the authentication failure; logs:\n%s",
			be.user, tail(logs, 30))
	} else {
		t.Logf("authentication error as logged: %s", found)
	}
	for name, secret := range map[string]string{"wrong password": wrong, "real password": be.pass} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
}

// saslFailed marks the broker's log line of a failed SASL authentication; TLS
// handshake failures are logged as "Failed authentication ... (SSL handshake
// failed)" and do not carry it.
const saslFailed = "invalid credentials with SASL mechanism"

// authFailures returns the times of the failed SASL authentications in the
// broker's log, oldest first. Lines look like "[2026-11-26T10:05:47,960] INFO
// [SocketServer ...] Failed authentication with /127.0.0.1 (...) (Authentication
// failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512)".
func authFailures(t *testing.T, path string) []time.Time {
	t.Helper()
	return brokerLogTimes(t, path, saslFailed)
}

// brokerLogTimes returns the times of the broker log lines holding substr.
func brokerLogTimes(t *testing.T, path, substr string) []time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("reading the broker log: %v", err)
	}
	defer f.Close()
	var out []time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, substr) || !strings.HasPrefix(line, "[") {
			continue
		}
		end := strings.IndexByte(line, ']')
		if end < 0 {
			continue
		}
		ts, err := time.ParseInLocation("2006-01-02T15:04:05,000", line[1:end], time.Local)
		if err != nil {
			t.Fatalf("broker log timestamp %q: %v", line[1:end], err)
		}
		out = append(out, ts)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the broker log: %v", err)
	}
	return out
}
