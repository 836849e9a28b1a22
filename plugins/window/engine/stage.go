package engine

import "fmt"

// Stage is the part of the window an engine runs. A scaled-out job splits
// the window in two (docs/scale-out.md): stage 1 on the source partitions a
// replica owns judges lateness and folds rows into partial aggregates; the
// partials, keyed by group key, and per-source-partition watermark markers go
// through an internal topic to stage 2, which merges them exactly and closes
// windows when every source partition is past them.
type Stage string

const (
	// StageFull is today's single-process window: Process.
	StageFull Stage = "full"
	// StagePartial is stage 1: see PartialEngine.
	StagePartial Stage = "partial"
	// StageMerge is stage 2: Merge.
	StageMerge Stage = "merge"
	// StageLocal is stage 1 without Kafka transactions: see LocalEngine.
	StageLocal Stage = "local"
)

func (c *Config) validateStage() error {
	switch c.Stage {
	case "", StageFull:
		return nil
	case StagePartial, StageLocal, StageMerge:
	default:
		return fmt.Errorf("stage %q must be full, partial, local or merge", c.Stage)
	}
	// The two stages split the per-partition rule; Spark's global watermark
	// and its two-watermark timing have no meaning across replicas.
	if c.Mode != ModePerPartition {
		return fmt.Errorf("stage %s needs watermark.mode per_partition, got %q", c.Stage, c.Mode)
	}
	if c.Emit == EmitNextBatch {
		return fmt.Errorf("stage %s needs watermark.emit after_batch", c.Stage)
	}
	return nil
}
