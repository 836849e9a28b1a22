// Package all imports every rides-connect plugin package for its registration
// side effects (components, bloblang functions, CLI subcommands).
package all

import (
	_ "github.com/miaradia/rides-connect/plugins/checkpoint"
	_ "github.com/miaradia/rides-connect/plugins/deltalake"
	_ "github.com/miaradia/rides-connect/plugins/fromjson"
	_ "github.com/miaradia/rides-connect/plugins/kafkafranz"
	_ "github.com/miaradia/rides-connect/plugins/prometheus"
	_ "github.com/miaradia/rides-connect/plugins/textcase"
	_ "github.com/miaradia/rides-connect/plugins/window"
)
