// Package clicmd collects extra rides-connect subcommands (topic admin, Delta
// maintenance, ...) registered by plugin packages from their init functions, so
// cmd/rides-connect stays a list of blank imports.
package clicmd

import (
	"sort"
	"sync"

	"github.com/urfave/cli/v2"
)

var (
	mu       sync.Mutex
	commands []*cli.Command
)

// Register adds a subcommand to the rides-connect CLI. Call it from init().
func Register(cmd *cli.Command) {
	mu.Lock()
	defer mu.Unlock()
	commands = append(commands, cmd)
}

// All returns the registered subcommands sorted by name.
func All() []*cli.Command {
	mu.Lock()
	defer mu.Unlock()
	out := append([]*cli.Command(nil), commands...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
