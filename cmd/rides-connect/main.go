// Command rides-connect is a Benthos v4 distribution: the full Benthos CLI
// (run, lint, test, list, create, blobl, ...) with the rides-connect plugins
// registered, plus the subcommands those plugins add.
package main

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	// Core Benthos inputs, outputs, processors and caches.
	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/miaradia/rides-connect/internal/clicmd"
	// Our plugins register themselves from init().
	_ "github.com/miaradia/rides-connect/plugins/all"
)

// Set at build time with -ldflags "-X main.version=... -X main.buildDate=...".
var (
	version   = "dev"
	buildDate = ""
)

func main() {
	opts := []service.CLIOptFunc{
		service.CLIOptSetBinaryName("rides-connect"),
		service.CLIOptSetProductName("rides-connect"),
		service.CLIOptSetVersion(version, buildDate),
		service.CLIOptSetDocumentationURL("https://github.com/miaradia/rides-connect/tree/main/docs"),
	}
	for _, cmd := range clicmd.All() {
		opts = append(opts, service.CLIOptAddCommand(cmd))
	}
	service.RunCLI(context.Background(), opts...)
}
