package realkafka

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
)

// Stage full (config/rides-single.yaml): the emissions of its two pipeline
// threads reach delta_lake out of sequence, and with max_in_flight 1 the
// later one is committed past the gap at once. A SIGKILL right then lost the earlier windows: the txn
// version said they were written (red team of 4 Dec: 6 kills, 6 rows; 10
// kills, 26 rows). Now the gap is recorded in the table as a hole. On a
// sparse topic (20 000 rides over 14 days: nearly every small input batch
// closes a window) with input batches of 7, the job is killed a few ms
// after a gap warning, six times; then the unedited config drains the rest,
// and the table must equal the reference. Whether a run meets a gap
// depends on how the threads interleave: a backlog drained without one
// tests nothing, so up to three backlogs are tried (one CI run of session
// 30 met none in six runs of a minute each, and said nothing more).
func TestKillsAtSequenceGapsLoseNoWindow(t *testing.T) {
	be := needBroker(t)
	spec := harness.DefaultBacklog(21, envInt(t, "GAP_RIDES", 20_000))
	spec.Span = 14 * 24 * time.Hour
	rng := rand.New(rand.NewPCG(21, 5))
	for attempt := 1; attempt <= 3; attempt++ {
		b := newBacklogOf(t, be, "rides-gaps", spec, true)
		job := newRidesJob(t, be, b.topic)
		job.conf = filepath.Join(job.root, "config", "rides-single.yaml")
		shipped := job.conf
		job.conf = editedConfig(t, shipped, map[string]string{
			"\n      count: 1024\n":            "\n      count: 7\n",
			"\n            max_in_flight: 4\n": "\n            max_in_flight: 1\n",
		})
		gaps := killAtGaps(t, job, b.adm, rng)
		if gaps == 0 {
			t.Logf("backlog %d drained without a sequence gap; trying another", attempt)
			continue
		}
		t.Logf("%d of 6 runs killed just after a sequence gap", gaps)
		job.conf = shipped
		job.start(t)
		job.waitDrained(t, b.adm, 5*time.Minute)
		job.check(t, b.adm, b.parts, b.want, b.wantLate)
		job.stop(t)
		return
	}
	t.Fatal("three backlogs drained without a sequence gap: nothing was tested (the warning text changed?)")
}

// killAtGaps starts the job up to six times and SIGKILLs it a few ms after
// each gap warning; it returns how many runs met a gap. A run that meets
// none has drained the backlog (the rest would read nothing); one that
// neither meets a gap nor drains within a minute fails the test with its
// log.
func killAtGaps(t *testing.T, job *ridesJob, adm *kadm.Client, rng *rand.Rand) int {
	t.Helper()
	gaps := 0
	for kill := 0; kill < 6; kill++ {
		job.start(t)
		met := job.waitLogOr(t, "arrived; the table records them as missing", time.Minute, func() bool {
			return groupDrained(adm, job.topic, job.group)
		})
		if !met {
			if !groupDrained(adm, job.topic, job.group) {
				job.fail(t, "run %d met no sequence gap and did not drain the backlog within a minute (job exited: %v)", kill+1, job.proc.Exited())
			}
			job.proc.Kill()
			return gaps
		}
		gaps++
		// A random point just after the gap was committed past.
		time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
		job.proc.Kill()
	}
	return gaps
}

// editedConfig writes a copy of the config at path with each old text
// (which must occur exactly once) replaced.
func editedConfig(t *testing.T, path string, edits map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for old, repl := range edits {
		if n := strings.Count(s, old); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once", path, old, n)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitLogOr reports whether the job's log shows text within d; it gives up
// (false) once the job exited, d passed, or done holds (checked every 100
// ms).
func (j *ridesJob) waitLogOr(t *testing.T, text string, d time.Duration, done func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for i := 0; ; i++ {
		if b, err := os.ReadFile(j.proc.Log); err == nil && strings.Contains(string(b), text) {
			return true
		}
		if j.proc.Exited() || time.Now().After(deadline) || i%100 == 99 && done() {
			return false
		}
		time.Sleep(time.Millisecond) // polling another process's log
	}
}
