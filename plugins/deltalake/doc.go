// Package deltalake registers the delta_lake output, the
// delta_lake_validate processor and the `rides-connect delta` subcommands.
// The Delta protocol itself (log, snapshot, commit, checkpoints, reader)
// lives in the pure subpackage delta; this package only adapts it to
// Benthos: config spec, acks, metadata and metrics.
package deltalake
