//go:build !unsafe_state_after_release

package window

import "time"

// unsafeCheckpointEvery is non-zero only in test builds with
// -tags unsafe_state_after_release (see unsafe_state.go and docs/faults.md).
const unsafeCheckpointEvery time.Duration = 0
