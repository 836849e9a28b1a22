// Package dockerfile reads what the repository's Dockerfile says about the
// image, with BuildKit's own parser (the one `docker build` uses), so the deploy
// tests can compare it with the image built in Go.
package dockerfile

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Image is the final stage: its base and the config and files it sets.
type Image struct {
	Base         string
	User         string
	WorkingDir   string
	Entrypoint   []string
	Cmd          []string
	ExposedPorts []string
	Env          map[string]string
	Copies       []Copy
	Build        GoBuild  // the go build in the stage the copies come from
	Linted       []string // the files `<build output> lint` checks in that stage's RUN lines
	BuildDir     string   // that stage's WORKDIR, where `COPY . .` put the repository
}

// Copy is one COPY of the final stage.
type Copy struct {
	From    string
	Sources []string
	Dest    string
}

// GoBuild is the `go build` command of a RUN line.
type GoBuild struct {
	Env     []string // KEY=VALUE prefixes
	Flags   []string // flags other than -ldflags and -o
	LDFlags string
	Output  string
	Package string
}

// Parse reads the Dockerfile at file; args gives the build args (e.g. VERSION).
func Parse(file string, args map[string]string) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		return nil, err
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		return nil, err
	}
	if len(stages) < 2 {
		return nil, fmt.Errorf("%s: want a build stage and a final stage, got %d stages", file, len(stages))
	}
	final := stages[len(stages)-1]
	img := &Image{Base: final.BaseName, Env: map[string]string{}}
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			img.User = c.User
		case *instructions.WorkdirCommand:
			img.WorkingDir = path.Join(img.WorkingDir, c.Path)
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				return nil, fmt.Errorf("ENTRYPOINT in shell form: the job would not get SIGTERM")
			}
			img.Entrypoint = c.CmdLine
		case *instructions.CmdCommand:
			img.Cmd = c.CmdLine
		case *instructions.ExposeCommand:
			for _, p := range c.Ports {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				img.ExposedPorts = append(img.ExposedPorts, p)
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				img.Env[kv.Key] = kv.Value
			}
		case *instructions.CopyCommand:
			img.Copies = append(img.Copies, Copy{From: c.From, Sources: c.SourcePaths, Dest: c.DestPath})
		case *instructions.RunCommand:
			return nil, fmt.Errorf("RUN in the final stage: the distroless base has no shell")
		}
	}
	from := ""
	for _, cp := range img.Copies {
		if cp.From != "" && from != "" && cp.From != from {
			return nil, fmt.Errorf("COPY from stages %s and %s: this reader expects one build stage", from, cp.From)
		}
		if cp.From != "" {
			from = cp.From
		}
	}
	for _, s := range stages {
		if from != "" && s.Name == from {
			if err := readBuildStage(s, args, img); err != nil {
				return nil, err
			}
		}
	}
	return img, nil
}

func readBuildStage(s instructions.Stage, args map[string]string, img *Image) error {
	env := map[string]string{}
	for k, v := range args {
		env[k] = v
	}
	for _, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.WorkdirCommand:
			img.BuildDir = path.Join(img.BuildDir, c.Path)
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				if _, set := env[a.Key]; !set && a.Value != nil {
					env[a.Key] = *a.Value
				}
			}
		case *instructions.RunCommand:
			if !c.PrependShell || len(c.CmdLine) != 1 {
				continue
			}
			b, ok, err := goBuild(c.CmdLine[0], env)
			if err != nil {
				return err
			}
			if ok {
				img.Build = b
			}
			linted, err := lintArgs(c.CmdLine[0], env, img.Build.Output)
			if err != nil {
				return err
			}
			img.Linted = append(img.Linted, linted...)
		}
	}
	if img.Build.Package == "" {
		return fmt.Errorf("stage %s has no `go build` RUN line", s.Name)
	}
	return nil
}

// goBuild splits the first command of a shell line (up to &&) into words with
// BuildKit's shell lexer, ARG values expanded, and reads a `go build` from it.
func goBuild(line string, env map[string]string) (GoBuild, bool, error) {
	first, _, _ := strings.Cut(line, "&&")
	words, err := shell.NewLex('\\').ProcessWords(first, envGetter(env))
	if err != nil {
		return GoBuild{}, false, err
	}
	var b GoBuild
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		b.Env = append(b.Env, words[i])
	}
	if len(words) < i+2 || words[i] != "go" || words[i+1] != "build" {
		return GoBuild{}, false, nil
	}
	for j := i + 2; j < len(words); j++ {
		switch w := words[j]; {
		case w == "-ldflags" && j+1 < len(words):
			b.LDFlags, j = words[j+1], j+1
		case w == "-o" && j+1 < len(words):
			b.Output, j = words[j+1], j+1
		case strings.HasPrefix(w, "-"):
			b.Flags = append(b.Flags, w)
		default:
			b.Package = w
		}
	}
	return b, true, nil
}

// lintArgs returns the files of each `<bin> lint <file>...` command of a
// shell line (its commands split at &&), bin being the built binary.
func lintArgs(line string, env map[string]string, bin string) ([]string, error) {
	if bin == "" {
		return nil, nil
	}
	var out []string
	for _, cmd := range strings.Split(line, "&&") {
		words, err := shell.NewLex('\\').ProcessWords(cmd, envGetter(env))
		if err != nil {
			return nil, err
		}
		if len(words) >= 2 && words[0] == bin && words[1] == "lint" {
			out = append(out, words[2:]...)
		}
	}
	return out, nil
}

type envGetter map[string]string

func (e envGetter) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e envGetter) Keys() []string {
	out := make([]string, 0, len(e))
	for k := range e {
		out = append(out, k)
	}
	return out
}
