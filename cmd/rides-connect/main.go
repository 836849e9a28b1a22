// Command rides-connect is a Benthos v4 distribution: the full Benthos CLI
// (run, lint, test, list, create, blobl, ...) with the rides-connect plugins
// registered, plus the subcommands those plugins add.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

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
	if errs := dupKeyErrors(configFiles(os.Args[1:])); len(errs) > 0 {
		fmt.Fprintln(os.Stderr, strings.Join(errs, "\n"))
		os.Exit(1)
	}
	stopTrace := startTrace()
	setDefaultInstanceID()
	setMemoryLimit()
	opts := []service.CLIOptFunc{
		service.CLIOptSetBinaryName("rides-connect"),
		service.CLIOptSetProductName("rides-connect"),
		service.CLIOptSetVersion(version, buildDate),
		service.CLIOptSetDocumentationURL("https://github.com/miaradia/rides-connect/tree/main/docs"),
		service.CLIOptOnConfigParse(checkHTTPAddress),
		service.CLIOptAddTeeLogger(slog.New(httpFailureHandler{})),
	}
	for _, cmd := range clicmd.All() {
		opts = append(opts, service.CLIOptAddCommand(cmd))
	}
	// A plugin that finds the job can never work (a kafka_franz output whose
	// topic does not exist) cancels this context: Benthos then shuts down.
	ctx, cancel := context.WithCancel(context.Background())
	clicmd.OnAbort(cancel)
	code, err := service.RunCLIToCode(ctx, opts...)
	if err != nil {
		// As service.RunCLI does: the reason a run could not start (a
		// component that failed to build) is only in this error.
		fmt.Fprintln(os.Stderr, err)
	}
	// A plugin may have stopped the pipeline on purpose (e.g. kafka_franz with
	// fail_on_data_loss): Benthos reports 0 for that, we must not.
	cancel()
	stopTrace()
	os.Exit(clicmd.ExitCode(code))
}
