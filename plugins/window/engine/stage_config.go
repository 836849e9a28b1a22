package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// The two stages of a scaled-out job merge by position: stage 2 reads a
// partial's aggregates in the order of its own config and names its group
// key's parts with its own group_by. A stage 1 configured otherwise (an
// aggregate renamed or with another op, another group_by, size, offset or
// delay) would be merged into wrong rows without an error (red team of
// session 19). So every partial carries a fingerprint of the config its
// stage 1 ran, and stage 2 refuses one that is not its own.

// ErrOtherStageConfig marks a partial written by a stage 1 whose window
// config is not this stage 2's.
var ErrOtherStageConfig = errors.New("partial written by a stage partial with another window config: size, offset, watermark.delay, group_by and aggregates (names, ops) must be the same in both stages")

// stageConfig is what both stages must agree on.
type stageConfig struct {
	SizeUs   int64     `json:"size_us"`
	OffsetUs int64     `json:"offset_us"`
	DelayUs  int64     `json:"delay_us"`
	Groups   []string  `json:"group_by"`
	Aggs     []AggSpec `json:"aggregates"`
}

// StageFingerprint is a short hash of the window config the two stages of a
// scaled-out job must share.
func (c *Config) StageFingerprint() string {
	b, _ := json.Marshal(stageConfig{SizeUs: c.Size.Microseconds(), OffsetUs: c.Offset.Microseconds(),
		DelayUs: c.Delay.Microseconds(), Groups: c.GroupNames, Aggs: c.Aggregates})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// checkStageConfig refuses a partial stamped with another fingerprint. An
// unstamped partial (written before partials carried one) is let through.
func (e *Engine) checkStageConfig(p *Partial) error {
	if p.Config == "" || p.Config == e.fingerprint {
		return nil
	}
	return fmt.Errorf("%w (its config %s, this one %s)", ErrOtherStageConfig, p.Config, e.fingerprint)
}
