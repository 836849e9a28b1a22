//go:build unsafe_no_txn

package deltalake

// Built with -tags unsafe_no_txn (tests only: the fault harness must FAIL
// with it): commits carry no txn action and nothing is skipped as already
// written, so a re-emission after a crash is appended a second time.
const disableTxn = true
