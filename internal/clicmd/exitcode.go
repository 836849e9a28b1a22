package clicmd

import "sync"

// Benthos v4.60 gives a plugin no way to make the process exit non-zero: an
// input that ends the pipeline on purpose (e.g. kafka_franz with
// fail_on_data_loss) looks like a clean finish and the CLI exits 0. A plugin
// records such a stop with Fail; cmd/rides-connect turns it into the exit
// status through ExitCode once the CLI returns.

var (
	failMu   sync.Mutex
	failCode int
	failErr  error
)

// Fail records that a component stopped the pipeline for a reason that must
// not look like success. The first call wins.
func Fail(code int, err error) {
	failMu.Lock()
	defer failMu.Unlock()
	if failErr == nil {
		failCode, failErr = code, err
	}
}

// Failure returns the first recorded failure and its exit code, or (0, nil).
func Failure() (int, error) {
	failMu.Lock()
	defer failMu.Unlock()
	return failCode, failErr
}

// ExitCode is the status the process exits with: Benthos' own code when it
// reports a failure, else the first recorded failure's code, else 0.
func ExitCode(benthosCode int) int {
	if benthosCode != 0 {
		return benthosCode
	}
	code, _ := Failure()
	return code
}

var stopRun func()

// OnAbort sets how Abort stops the running CLI; cmd/rides-connect passes
// the cancel function of the context it runs the CLI with.
func OnAbort(stop func()) {
	failMu.Lock()
	defer failMu.Unlock()
	stopRun = stop
}

// Abort records a failure as Fail does and stops the running job: for a
// component that finds, once connected, that it can never work (a missing
// topic that will not be created). Without OnAbort (tests, streams built in
// Go) it only records.
func Abort(code int, err error) {
	Fail(code, err)
	failMu.Lock()
	stop := stopRun
	failMu.Unlock()
	if stop != nil {
		stop()
	}
}
