package kafkafranz

import (
	"errors"
	"sync"

	"github.com/miaradia/rides-connect/internal/clicmd"
)

// Benthos v4.60 gives a plugin no way to make the process exit non-zero: an
// input that returns service.ErrEndOfInput ends the pipeline cleanly, and
// `rides-connect -c …` then exits 0 (RunManagerUntilStopped returns nil
// after "Pipeline has terminated"); any other error is logged and retried.
// So the first fatal stop is remembered here and reported to clicmd.Fail, which
// cmd/rides-connect turns into the exit status once RunCLIToCode returns.

var (
	fatalMu  sync.Mutex
	fatalErr error
)

func recordFatal(err error) {
	fatalMu.Lock()
	defer fatalMu.Unlock()
	if fatalErr == nil {
		fatalErr = err
		clicmd.Fail(ExitCodeDataLoss, err)
	}
}

// FatalDataLoss returns the error of the first kafka_franz input in this
// process that stopped because of fail_on_data_loss, or nil.
func FatalDataLoss() error {
	fatalMu.Lock()
	defer fatalMu.Unlock()
	return fatalErr
}

// ExitCodeDataLoss is the exit status of a process whose kafka_franz input
// stopped on data loss (through clicmd.ExitCode).
const ExitCodeDataLoss = 3

// ExitCodeBadConfig is the exit status of a process whose kafka_franz output
// names in transaction.input no transactional input of the config, as Benthos
// exits for a config it refuses (through clicmd.ExitCode).
const ExitCodeBadConfig = 1

// ExitCodeMissingTopic is the exit status of a process whose kafka_franz
// output found at start that its topic does not exist and would not be
// created (through clicmd.ExitCode).
const ExitCodeMissingTopic = 4

// errDataLossStop marks the errors recorded by a data-loss stop.
var errDataLossStop = errors.New("kafka_franz input stopped on data loss")
