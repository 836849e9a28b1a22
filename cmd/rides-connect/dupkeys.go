package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// YAML keeps the last of two equal keys of a mapping, and Benthos reads its
// configs that way without a word: an aggregate copied and not renamed
// (`revenue:` twice under `aggregates`), or a second `size:` under a window,
// silently replaces the first. dupKeyErrors finds them in the config files
// named on the command line, for `lint` and before a run.

// configFiles returns the files of -c/--config and -r/--resources, and the
// arguments of `lint` (globs expanded as lint expands them).
func configFiles(args []string) []string {
	var files []string
	lint := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-c" || a == "--config" || a == "-r" || a == "--resources":
			if i+1 < len(args) {
				files = append(files, args[i+1])
				i++
			}
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "--resources="):
			files = append(files, a[strings.Index(a, "=")+1:])
		case a == "lint" && !lint:
			lint = true
		case lint && !strings.HasPrefix(a, "-"):
			matches, _ := filepath.Glob(a)
			if len(matches) == 0 {
				matches = []string{a}
			}
			files = append(files, matches...)
		}
	}
	return files
}

// dupKeyErrors returns one message per key defined twice in a mapping of
// the files, in lint's "file(line,col) message" form. Unreadable or invalid
// files are left to Benthos, which reports them.
func dupKeyErrors(files []string) []string {
	var errs []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc yaml.Node
		if yaml.Unmarshal(expandEnv(data), &doc) != nil {
			continue
		}
		walkMappings(&doc, func(first, again *yaml.Node) {
			errs = append(errs, fmt.Sprintf("%s(%d,%d) key %s is defined twice in this mapping (also at line %d): YAML keeps the last, silently; rename or remove one",
				f, again.Line, again.Column, again.Value, first.Line))
		})
	}
	return errs
}

// envRef is Benthos' environment variable reference, ${NAME} or
// ${NAME:default}: Benthos replaces them before parsing the YAML, and some
// are not valid YAML as they stand ({ interval: ${PURGE_INTERVAL:30s} }).
var envRef = regexp.MustCompile(`\$\{([0-9A-Za-z_.]+)(:((\$\{[^}]+\})|[^}])*)?\}`)

// expandEnv replaces the references as Benthos does: the variable when set
// and not empty, else the default.
func expandEnv(data []byte) []byte {
	return envRef.ReplaceAllFunc(data, func(ref []byte) []byte {
		name, def, _ := strings.Cut(string(ref[2:len(ref)-1]), ":")
		if v := os.Getenv(name); v != "" {
			return []byte(v)
		}
		return []byte(def)
	})
}

func walkMappings(n *yaml.Node, dup func(first, again *yaml.Node)) {
	if n.Kind == yaml.MappingNode {
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue // merge keys may repeat what they merge
			}
			if first, ok := seen[k.Value]; ok {
				dup(first, k)
			} else {
				seen[k.Value] = k
			}
		}
	}
	for _, c := range n.Content {
		walkMappings(c, dup)
	}
}
