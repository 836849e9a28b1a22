package window

import (
	"bytes"
	"encoding/json"

	"github.com/redpanda-data/benthos/v4/public/bloblang"

	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// The window's state is binary (docs/window.md, "State format"); this
// method lets a config test, `rides-connect blobl` or a debugging pipeline
// read one, e.g. a record of a stage-merge changelog topic.
func init() {
	spec := bloblang.NewPluginSpec().
		Category("Parsing").
		Description("Parses a `tumbling_window` state (a `state.cache` value, or a record of a stage-merge changelog topic; any state version, binary or JSON) into an object: `version`, `seq` (the last emission sequence), `watermark`, `windows` (open windows and their groups), `applied` (input offsets applied, per partition), `pending` (retained emissions), `local` (stage merge's local stage-1 sources); a stage-local source partition's state (a `state.cache` value of `stage: local`) into `version`, `config`, `fence`, `commit`, `marker`, `closed_us`, `open`, `sent`. For inspection only: the layout follows the state version and may change with it. Integers are exact (numbers keep their digits).").
		Example("", `root = content().window_state().seq`, [2]string{`{"version":1,"seq":3}`, `3`})
	if err := bloblang.RegisterMethodV2("window_state", spec, func(*bloblang.ParsedParams) (bloblang.Method, error) {
		return bloblang.BytesMethod(func(b []byte) (any, error) {
			js, err := engine.StateJSON(b)
			if err != nil {
				return nil, err
			}
			d := json.NewDecoder(bytes.NewReader(js))
			d.UseNumber() // noWatermark and offsets do not fit a float64
			var v any
			return v, d.Decode(&v)
		}), nil
	}); err != nil {
		panic(err)
	}
}
