package realkafka

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
)

// A trickle of rides with bursts of malformed records alone in some
// partitions, and restarts (SIGTERM or SIGKILL, at random) just before and
// after each burst is committed: the first batch of a partition in a
// process is then often only dead letters. Both forms of the job must
// drain it with no hold and write the per-partition reference table; so must
// config/rides-scaleout.yaml, whose stage 1 writes a changelog copy for them.
// config/rides.yaml held such a partition for good before session 33 (its
// state named no commit past the dead letters). TRICKLE_SEED replays a run.
func TestTrickleWithBadBurstsAndRestartsEqualsReference(t *testing.T) {
	be := needBroker(t)
	seed := int64(envInt(t, "TRICKLE_SEED", int(time.Now().UnixNano()%1_000_000)))
	t.Logf("TRICKLE_SEED=%d", seed)
	for i, config := range []string{"rides.yaml", "rides-single.yaml", "rides-scaleout.yaml"} {
		t.Run(config, func(t *testing.T) { trickle(t, be, config, seed+int64(i)) })
	}
}

func trickle(t *testing.T, be brokerEnv, config string, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	b := newBacklog(t, be, "rides-trickle", seed, 6_000, false)
	job := newRidesJob(t, be, b.topic)
	job.conf = filepath.Join(job.root, "config", config)
	job.start(t)
	restart := func() {
		t.Helper()
		if rng.Intn(2) == 0 {
			job.proc.Kill()
		} else {
			job.stop(t)
		}
		job.start(t)
	}
	// Stage 1's commits are what the scenario needs (the bursts' offsets
	// committed by the process that read them).
	drained := func() {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Minute); !groupDrained(b.adm, b.topic, job.group); time.Sleep(100 * time.Millisecond) {
			if job.proc.Exited() || time.Now().After(deadline) {
				job.fail(t, "%s not drained by group %s (exited: %v)", b.topic, job.group, job.proc.Exited())
			}
		}
	}
	const slices = 8
	produced := make([][]harness.Record, len(b.parts)) // in the order written, for the dead-letter count
	restarts, bursts := 0, 0
	for s := 0; s < slices; s++ {
		slice := make([][]harness.Record, len(b.parts))
		for p, recs := range b.parts {
			slice[p] = recs[len(recs)*s/slices : len(recs)*(s+1)/slices]
			produced[p] = append(produced[p], slice[p]...)
		}
		produceRecords(t, be, b.topic, slice)
		if rng.Intn(3) == 0 {
			continue
		}
		drained()
		restart()
		burst := make([][]harness.Record, len(b.parts))
		for p := range burst {
			if rng.Intn(2) == 0 {
				continue
			}
			for k := 0; k < 1+rng.Intn(3); k++ {
				bad := harness.Record{Key: []byte(strconv.Itoa(p)), Value: []byte(fmt.Sprintf(`{"rideId":"burst-%d-%d"`, s, k))}
				burst[p] = append(burst[p], bad)
				produced[p] = append(produced[p], bad)
				bursts++
			}
		}
		produceRecords(t, be, b.topic, burst)
		drained()
		restart()
		restarts += 2
	}
	drained()
	// The last windows reach the table after stage 1's commits (through
	// stage 2 in the two-stage configs); check reads /metrics too, which a
	// process restarted last serves a moment after its start.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		rows, _, err := harness.TableRows(context.Background(), job.table)
		_, merr := harness.ScrapeMetrics(job.http)
		if err == nil && merr == nil && harness.DiffRows(rows, b.want) == "" {
			break
		}
		if job.proc.Exited() || time.Now().After(deadline) {
			break // check says what differs
		}
	}
	job.check(t, b.adm, produced, b.want, b.wantLate)
	job.stop(t)
	t.Logf("%s: %d restarts, %d malformed records in bursts", config, restarts, bursts)
}
