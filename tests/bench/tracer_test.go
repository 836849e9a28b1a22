package bench

// The benchmarks run with the shipped binary's `none` tracer (plugins/all
// registers it), not Benthos' own. Kept out of the *bench*_test.go files so
// that tests/bench/ab.sh can still build a revision from before it.
import _ "github.com/miaradia/rides-connect/plugins/tracenone"
