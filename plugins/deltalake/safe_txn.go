//go:build !unsafe_no_txn

package deltalake

// disableTxn is true only in test builds with -tags unsafe_no_txn
// (see unsafe_notxn.go and docs/faults.md).
const disableTxn = false
