// Package templates embeds the Benthos templates shared by the configs in
// config/ (parse_ride, dead_letter_envelope) and registers them in the global
// Benthos environment on import, so that every rides-connect command (run,
// lint, test) and every in-process stream built from config/*.yaml knows them,
// whatever the working directory or the deployment (image, ConfigMap).
package templates

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/redpanda-data/benthos/v4/public/service"
)

//go:embed *.yaml
var files embed.FS

func init() {
	if err := Register(service.GlobalEnvironment()); err != nil {
		panic(err)
	}
}

// Register adds every embedded template to env (the global environment
// already has them).
func Register(env *service.Environment) error {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return err
	}
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return err
		}
		if err := env.RegisterTemplateYAML(string(b)); err != nil {
			return fmt.Errorf("config/templates/%s: %w", n, err)
		}
	}
	return nil
}

// File returns the text of one embedded template file.
func File(name string) ([]byte, error) { return files.ReadFile(name) }
