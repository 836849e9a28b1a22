package clicmd

import (
	"errors"
	"testing"
)

func TestExitCode(t *testing.T) {
	// The record is process-wide and the first failure wins: start from none
	// and leave none (a -count=2 run would otherwise see this run's 3).
	reset := func() { failMu.Lock(); failCode, failErr = 0, nil; failMu.Unlock() }
	reset()
	t.Cleanup(reset)
	if got := ExitCode(0); got != 0 {
		t.Fatalf("no failure: %d", got)
	}
	Fail(3, errors.New("data loss"))
	Fail(4, errors.New("later"))
	if code, err := Failure(); code != 3 || err.Error() != "data loss" {
		t.Fatalf("the first failure wins, got %d %v", code, err)
	}
	if got := ExitCode(0); got != 3 {
		t.Fatalf("a recorded failure must turn 0 into its code, got %d", got)
	}
	if got := ExitCode(1); got != 1 {
		t.Fatalf("Benthos' own failure status is kept, got %d", got)
	}
}
