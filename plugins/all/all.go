// Package all imports every rides-connect plugin package for its registration
// side effects (components, bloblang functions, CLI subcommands), and the
// templates of config/templates.
package all

import (
	// The templates shared by config/*.yaml (parse_ride, dead_letter_envelope).
	_ "github.com/miaradia/rides-connect/config/templates"

	_ "github.com/miaradia/rides-connect/plugins/checkpoint"
	_ "github.com/miaradia/rides-connect/plugins/deltalake"
	_ "github.com/miaradia/rides-connect/plugins/fromjson"
	_ "github.com/miaradia/rides-connect/plugins/kafkafranz"
	_ "github.com/miaradia/rides-connect/plugins/metaswitch"
	_ "github.com/miaradia/rides-connect/plugins/prometheus"
	_ "github.com/miaradia/rides-connect/plugins/textcase"
	_ "github.com/miaradia/rides-connect/plugins/tracenone"
	_ "github.com/miaradia/rides-connect/plugins/window"
)
