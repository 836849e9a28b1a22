package window

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// procConfig is the parsed, validated configuration.
type procConfig struct {
	engine    engine.Config
	timestamp *bloblang.Executor
	groupBy   []*bloblang.Executor // in engine.GroupNames order
	values    []*bloblang.Executor // per aggregate; nil for a row count
	// Slots number the queries: [timestamp, group keys..., values...] (row
	// counts have no slot). A slot whose query is a plain field path is read
	// from the parsed message (paths[slot]); the others are evaluated in one
	// Bloblang pass (rest, giving restSlots in order). Per-field queries are
	// only run to name the failing field when something fails.
	slots     []string
	paths     []fieldPath
	hasPaths  bool
	rest      *bloblang.Executor // nil when every query is a path
	restSlots []int
	valueSlot []int // per aggregate: its slot, -1 for a row count
	lateError bool
	nullKeys  bool // null is a key value of its own
	// orderTimeout bounds how long a batch waits for an earlier batch of
	// one of its partitions (see order.go).
	orderTimeout time.Duration
	cache        string
	// syncOnCommit (state.sync: commit): the state is written before a
	// batch that emits and before offset commits, not before every batch.
	syncOnCommit bool
	// onLost (state.on_lost): hold a state that started empty after the
	// group committed progress (lost_state.go), or resume from there.
	onLost    string
	key       string
	changelog bool // stage merge: state leaves as a message for a transactional changelog
	// Stage local: the output resource its bundles are written to in the
	// background (empty: passed on as messages), gathered for
	// bundlesPeriod, with at most bundlesMaxPending unwritten.
	bundlesOutput     string
	bundlesPeriod     time.Duration
	bundlesMaxPending int
}

func fromParsed(conf *service.ParsedConfig, res *service.Resources) (*procConfig, error) {
	label := res.Label()
	var c procConfig
	var err error
	ts, err := conf.FieldString(fTimestamp)
	if err != nil {
		return nil, err
	}
	if c.timestamp, err = lintrule.ParseQuery(ts); err != nil {
		return nil, fmt.Errorf("timestamp: %w", err)
	}
	e := &c.engine
	if e.Size, err = conf.FieldDuration(fSize); err != nil {
		return nil, err
	}
	if e.Offset, err = conf.FieldDuration(fOffset); err != nil {
		return nil, err
	}
	wm := conf.Namespace(fWatermark)
	if e.Delay, err = wm.FieldDuration(fDelay); err != nil {
		return nil, err
	}
	mode, err := enumfield.Read(conf, enumfield.Keys(watermarkModes), fWatermark, fMode)
	if err != nil {
		return nil, err
	}
	e.Mode = engine.Mode(mode)
	emit, err := enumfield.Read(conf, enumfield.Keys(emitModes), fWatermark, fEmit)
	if err != nil {
		return nil, err
	}
	e.Emit = engine.Emit(emit)
	idle, err := wm.FieldString(fIdleTimeout)
	if err != nil {
		return nil, err
	}
	if idle != "" {
		if e.IdleTimeout, err = time.ParseDuration(idle); err != nil || e.IdleTimeout < 0 {
			return nil, fmt.Errorf("watermark.idle_timeout: %q is not a duration such as 1m (empty or 0s = off)", idle)
		}
	}
	if c.orderTimeout, err = conf.FieldDuration(fOrderTimeout); err != nil {
		return nil, err
	}
	if c.orderTimeout <= 0 {
		return nil, fmt.Errorf("order_timeout: %v must be positive", c.orderTimeout)
	}

	groups, err := conf.FieldStringMap(fGroupBy)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(groups) {
		q, err := lintrule.ParseQuery(groups[name])
		if err != nil {
			return nil, fmt.Errorf("group_by.%s: %w", name, err)
		}
		e.GroupNames = append(e.GroupNames, name)
		c.groupBy = append(c.groupBy, q)
	}

	aggs, err := conf.FieldObjectMap(fAggregates)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(aggs) {
		opName, err := enumfield.Read(aggs[name], aggregateOps, fOp)
		if err != nil {
			return nil, fmt.Errorf("aggregates.%s: %w", name, err)
		}
		op, err := engine.ParseOp(opName)
		if err != nil {
			return nil, fmt.Errorf("aggregates.%s: %w", name, err)
		}
		value, err := aggs[name].FieldString(fValue)
		if err != nil {
			return nil, fmt.Errorf("aggregates.%s: %w", name, err)
		}
		var q *bloblang.Executor
		if value != "" {
			if q, err = lintrule.ParseQuery(value); err != nil {
				return nil, fmt.Errorf("aggregates.%s.value: %w", name, err)
			}
		}
		e.Aggregates = append(e.Aggregates, engine.AggSpec{Name: name, Op: op, HasValue: q != nil})
		c.values = append(c.values, q)
	}

	parts := []string{ts}
	for _, name := range e.GroupNames {
		parts = append(parts, groups[name])
	}
	for _, name := range sortedKeys(aggs) {
		v, _ := aggs[name].FieldString(fValue)
		slot := -1
		if v != "" {
			slot = len(parts)
			parts = append(parts, v)
		}
		c.valueSlot = append(c.valueSlot, slot)
	}
	c.slots = parts
	if err := c.planQueries(true); err != nil {
		return nil, err
	}

	late, err := enumfield.Read(conf, enumfield.Keys(lateRowsModes), fLateRows)
	if err != nil {
		return nil, err
	}
	c.lateError = late == "error"
	nullKeys, err := enumfield.Read(conf, enumfield.Keys(nullGroupKeysModes), fNullGroupKeys)
	if err != nil {
		return nil, err
	}
	c.nullKeys = nullKeys == "group"

	stage, err := enumfield.Read(conf, enumfield.Keys(stages), fStage)
	if err != nil {
		return nil, err
	}
	e.Stage = engine.Stage(stage)

	st := conf.Namespace(fState)
	if c.cache, err = st.FieldString(fCache); err != nil {
		return nil, err
	}
	if c.key, err = st.FieldString(fKey); err != nil {
		return nil, err
	}
	if c.key == "" {
		c.key = label
	}
	if c.key == "" {
		c.key = "tumbling_window"
	}
	if c.changelog, err = st.FieldBool(fChangelog); err != nil {
		return nil, err
	}
	if c.changelog && e.Stage != engine.StageMerge {
		return nil, fmt.Errorf("state.changelog: only with stage merge, not stage %s", e.Stage)
	}
	var sync string
	if sync, err = enumfield.Read(conf, syncModes, fState, fSync); err != nil {
		return nil, err
	}
	if c.syncOnCommit = sync == syncCommit; c.syncOnCommit && (e.Stage != engine.StageFull || c.cache == "") {
		return nil, fmt.Errorf("state.sync: commit needs stage full and state.cache (stage %s, cache %q)", e.Stage, c.cache)
	}
	if c.onLost, err = enumfield.Read(conf, onLostModes, fState, fOnLost); err != nil {
		return nil, err
	}
	if c.onLost == onLostResume && (e.Stage == engine.StageMerge || c.cache == "") {
		return nil, fmt.Errorf("state.on_lost: resume applies to stage full, local or partial with state.cache only (stage %s, cache %q)", e.Stage, c.cache)
	}
	if e.RetainEmissions, err = st.FieldInt(fRetainEmissions); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := c.readBundles(conf, res); err != nil {
		return nil, err
	}
	if e.Stage != engine.StageFull && c.cache == "" {
		return nil, fmt.Errorf("stage %s: state.cache is required (%s)", e.Stage, stageCacheUse[e.Stage])
	}
	if c.cache != "" && !res.HasCache(c.cache) {
		return nil, errors.New("state.cache: no cache resource labelled " + c.cache)
	}
	// Benthos builds a cache resource on its first use. Stage full reads
	// its state at start; the stages read theirs when a partition is
	// assigned, so a cache config that cannot be built (kafka_changelog
	// without a topic, a checkpoint url of no known scheme) was found only
	// then, and failed every batch: build it now.
	if c.cache != "" {
		if err := res.AccessCache(context.Background(), c.cache, func(service.Cache) {}); err != nil {
			return nil, fmt.Errorf("state.cache %q: %w", c.cache, err)
		}
	}
	return &c, nil
}

// bundlesPassOn is bundles.output's spelling of "pass them on" that an
// environment variable can give (Benthos takes an empty one as unset).
const bundlesPassOn = "none"

// readBundles reads the bundles object (stage local).
func (c *procConfig) readBundles(conf *service.ParsedConfig, res *service.Resources) error {
	b := conf.Namespace(fBundles)
	var err error
	if c.bundlesOutput, err = b.FieldString(fBundlesOutput); err != nil {
		return err
	}
	if c.bundlesPeriod, err = b.FieldDuration(fBundlesPeriod); err != nil {
		return err
	}
	if c.bundlesMaxPending, err = b.FieldInt(fMaxPending); err != nil {
		return err
	}
	if c.bundlesOutput == bundlesPassOn {
		c.bundlesOutput = ""
	}
	switch {
	case c.bundlesPeriod < 0:
		return fmt.Errorf("bundles.period: %v must not be negative", c.bundlesPeriod)
	case c.bundlesMaxPending < 1:
		return fmt.Errorf("bundles.max_pending: %d must be at least 1", c.bundlesMaxPending)
	case c.bundlesOutput == "":
		return nil
	case c.engine.Stage != engine.StageLocal:
		return fmt.Errorf("bundles.output: only with stage local, not stage %s", c.engine.Stage)
	case !res.HasOutput(c.bundlesOutput):
		return fmt.Errorf("bundles.output: no output resource labelled %s", c.bundlesOutput)
	}
	return nil
}

// stageCacheUse says what each stage keeps in state.cache.
var stageCacheUse = map[engine.Stage]string{
	engine.StagePartial: "a kafka_changelog cache on the stage-1 changelog topic: each source partition's progress is read back from it when the partition is (re)assigned",
	engine.StageLocal:   "a checkpoint cache: each source partition's state is kept under <state.key>-<topic>-<partition>@<committed offset> so it moves with the partition",
	engine.StageMerge:   "a checkpoint cache, or with state.changelog a kafka_changelog cache: each internal partition's state is kept under <state.key>-<partition> so it moves with the partition",
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// planQueries splits the slots between field paths and one combined Bloblang
// query. fieldPaths false evaluates everything with Bloblang (the benchmarks
// and the agreement tests compare both).
func (c *procConfig) planQueries(fieldPaths bool) error {
	c.paths = make([]fieldPath, len(c.slots))
	c.hasPaths, c.rest, c.restSlots = false, nil, nil
	var rest []string
	for i, q := range c.slots {
		if fieldPaths {
			if c.paths[i] = parseFieldPath(q); c.paths[i] != nil {
				c.hasPaths = true
				continue
			}
		}
		rest = append(rest, q)
		c.restSlots = append(c.restSlots, i)
	}
	if len(rest) == 0 {
		return nil
	}
	var err error
	if c.rest, err = bloblang.Parse("root = [ (" + strings.Join(rest, "\n), (") + "\n) ]"); err != nil {
		return fmt.Errorf("combining the queries: %w", err)
	}
	return nil
}
