//go:build unsafe_state_after_release

package window

import "time"

// Built with -tags unsafe_state_after_release (tests only: the fault harness
// must FAIL with it): the state is written at most every 5 s (the input's commit period) instead of
// before every batch is released, so offsets can be committed for rows whose
// window state was never made durable.
const unsafeCheckpointEvery = 5 * time.Second
