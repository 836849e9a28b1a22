package deploy

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/miaradia/rides-connect/tests/deploy/dockerfile"
	"github.com/miaradia/rides-connect/tests/deploy/image"
)

// The base image whose contents image.RidesConnect models (its Base files and Env).
const distrolessBase = "gcr.io/distroless/static-debian12:nonroot"

type entry struct {
	hdr  *tar.Header
	data []byte
}

// files is the flattened file system of img.
func files(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[path.Clean("/"+h.Name)] = entry{h, b}
	}
}

// builtImage builds the image, writes it to an OCI layout and returns the
// image read back from that layout.
func builtImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := image.Build(ridesImage(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := image.WriteLayout(dir, "rides-connect:"+version, img); err != nil {
		t.Fatal(err)
	}
	back, err := image.ReadLayout(dir, "rides-connect:"+version)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	got, err := back.Digest()
	if err != nil || got != want {
		t.Fatalf("image read back from the OCI layout has digest %v (%v), built %v", got, err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		t.Fatalf("no oci-layout file: %v", err)
	}
	return back
}

// TestImageMatchesDockerfile: the image built in Go is the one the
// Dockerfile describes (base, user, entrypoint, command, ports, env, working
// directory, every copied file, and the go build flags of the binary).
func TestImageMatchesDockerfile(t *testing.T) {
	df, err := dockerfile.Parse(filepath.Join(repoRoot, "Dockerfile"), map[string]string{"VERSION": version})
	if err != nil {
		t.Fatal(err)
	}
	img := builtImage(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if df.Base != distrolessBase {
		t.Errorf("Dockerfile FROM %s; image.RidesConnect models %s: update its Base files and Env", df.Base, distrolessBase)
	}
	if !slices.Equal(c.Entrypoint, df.Entrypoint) || !slices.Equal(c.Cmd, df.Cmd) {
		t.Errorf("entrypoint/cmd %q %q, Dockerfile %q %q", c.Entrypoint, c.Cmd, df.Entrypoint, df.Cmd)
	}
	if c.User != df.User || c.WorkingDir != df.WorkingDir {
		t.Errorf("user %q workdir %q, Dockerfile %q %q", c.User, c.WorkingDir, df.User, df.WorkingDir)
	}
	var ports []string
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	slices.Sort(df.ExposedPorts)
	if !slices.Equal(ports, df.ExposedPorts) {
		t.Errorf("exposed ports %v, Dockerfile %v", ports, df.ExposedPorts)
	}
	wantEnv := slices.Clone(image.BaseEnv)
	for k, v := range df.Env {
		wantEnv = append(wantEnv, k+"="+v)
	}
	slices.Sort(wantEnv)
	gotEnv := slices.Sorted(slices.Values(c.Env))
	if !slices.Equal(gotEnv, wantEnv) {
		t.Errorf("env %v, want the base's plus the Dockerfile's: %v", gotEnv, wantEnv)
	}

	fs := files(t, img)
	// USER resolves, through the image's own /etc/passwd and /etc/group, to the
	// non-root account, whose home is the working directory and is writable.
	name, grp, _ := strings.Cut(df.User, ":")
	if !hasLine(fs["/etc/passwd"].data, name+":x:65532:65532:") || !hasLine(fs["/etc/group"].data, grp+":x:65532:") {
		t.Errorf("USER %s does not resolve to 65532:65532 in the image", df.User)
	}
	if h := fs[df.WorkingDir].hdr; h == nil || h.Uid != image.NonrootUID || h.Typeflag != tar.TypeDir {
		t.Errorf("working directory %s: %+v, want a directory owned by %d", df.WorkingDir, h, image.NonrootUID)
	}
	if e := fs[image.CACertsPath]; !bytes.Contains(e.data, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("%s holds no CA certificate", image.CACertsPath)
	}
	if h := fs["/tmp"].hdr; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Error("/tmp missing or not 1777")
	}

	// Every COPY of the final stage, with the content the Dockerfile would copy.
	if len(df.Copies) == 0 {
		t.Fatal("no COPY in the Dockerfile's final stage")
	}
	for _, cp := range df.Copies {
		for _, src := range cp.Sources {
			dst := cp.Dest
			if strings.HasSuffix(dst, "/") || len(cp.Sources) > 1 {
				dst = path.Join(dst, path.Base(src))
			}
			var want []byte
			switch {
			case src == df.Build.Output:
				want, err = os.ReadFile(binary)
			case strings.HasPrefix(src, df.BuildDir+"/"):
				want, err = os.ReadFile(filepath.Join(repoRoot, strings.TrimPrefix(src, df.BuildDir+"/")))
			default:
				t.Errorf("COPY --from=%s %s: not the build output nor a file of the repository", cp.From, src)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := fs[dst]
			switch {
			case !ok:
				t.Errorf("COPY %s %s: %s is not in the image", src, cp.Dest, dst)
			case !bytes.Equal(got.data, want):
				t.Errorf("%s in the image differs from %s", dst, src)
			case got.hdr.Uid != 0 || got.hdr.Gid != 0 || got.hdr.Mode&0o022 != 0 || got.hdr.Mode&0o004 == 0:
				t.Errorf("%s: owner %d:%d mode %o, want root-owned, world-readable, not writable by others (COPY without --chown)", dst, got.hdr.Uid, got.hdr.Gid, got.hdr.Mode)
			}
		}
	}
	// The configs: every job config of config/ (not the config tests) is
	// copied, the build stage lints each one it copies, and image.Configs (the
	// image built and linted here) names the same files.
	var copied, linted []string
	for _, cp := range df.Copies {
		for _, src := range cp.Sources {
			if strings.HasPrefix(src, df.BuildDir+"/config/") {
				copied = append(copied, path.Base(src))
			}
		}
	}
	for _, f := range df.Linted {
		if !strings.HasPrefix(f, df.BuildDir+"/config/") {
			t.Errorf("the build stage lints %s, not a file of config/", f)
		}
		linted = append(linted, path.Base(f))
	}
	jobConfigs, err := filepath.Glob(filepath.Join(repoRoot, "config", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range jobConfigs {
		if !strings.HasSuffix(f, "_benthos_test.yaml") {
			want = append(want, filepath.Base(f))
		}
	}
	slices.Sort(want)
	for what, got := range map[string][]string{"COPY into the image": copied, "linted by the build stage": linted, "image.Configs": image.Configs} {
		if got = slices.Sorted(slices.Values(got)); !slices.Equal(got, want) {
			t.Errorf("configs %s: %v, want every job config of config/: %v", what, got, want)
		}
	}

	ep := fs[df.Entrypoint[0]]
	if ep.hdr == nil || ep.hdr.Mode&0o001 == 0 {
		t.Fatalf("entrypoint %s is not in the image or not executable by the non-root user", df.Entrypoint[0])
	}

	// The binary: built as the Dockerfile's RUN line builds it, and static.
	b := df.Build
	if !slices.Equal(b.Env, image.BuildEnv) || !slices.Equal(b.Flags, image.BuildFlags) || b.Package != image.Package ||
		b.LDFlags != os.Expand(image.LDFlags, func(string) string { return version }) {
		t.Errorf("Dockerfile builds with %+v; image.BuildBinary uses env %v flags %v ldflags %q package %s",
			b, image.BuildEnv, image.BuildFlags, image.LDFlags, image.Package)
	}
	tmp := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(tmp, ep.data, 0o755); err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for _, kv := range b.Env {
		k, v, _ := strings.Cut(kv, "=")
		if settings[k] != v {
			t.Errorf("binary built with %s=%q, Dockerfile sets %q", k, settings[k], v)
		}
	}
	if slices.Contains(b.Flags, "-trimpath") && settings["-trimpath"] != "true" {
		t.Errorf("binary build settings %v, Dockerfile: %+v", settings, b)
	}
	// With -trimpath Go does not record -ldflags: check their effects instead.
	if out, err := exec.Command(tmp, "--version").CombinedOutput(); err != nil || !strings.Contains(string(out), version) {
		t.Errorf("binary --version: %q (%v), want the -X main.version=%s of the Dockerfile's ldflags", out, err, version)
	}
	if info.Path != "github.com/miaradia/rides-connect/"+strings.TrimPrefix(b.Package, "./") {
		t.Errorf("binary is %s, Dockerfile builds %s", info.Path, b.Package)
	}
	ef, err := elf.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, f := range []struct{ flag, section string }{{"-s", ".symtab"}, {"-w", ".debug_info"}} {
		if strings.Contains(" "+b.LDFlags+" ", " "+f.flag+" ") && ef.Section(f.section) != nil {
			t.Errorf("binary has a %s section although the Dockerfile links with %s", f.section, f.flag)
		}
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a dynamic loader (PT_INTERP): not static, would not start on distroless/static")
		}
	}
}

func hasLine(b []byte, prefix string) bool {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
