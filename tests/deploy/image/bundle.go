package image

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Run is how one container is started from the image, as Kubernetes would:
// the image's entrypoint with Args replacing its CMD when set, extra env, a
// writable volume, the rest read-only.
type Run struct {
	Args   []string          // replaces the image's Cmd when not nil
	Env    []string          // added to the image's Env (KEY=VALUE)
	Mounts map[string]string // container path → host directory (read-write bind)
	Memory int64             // memory limit in bytes (cgroup), 0 = none
}

// Bundle unpacks img into dir/rootfs and writes dir/config.json: runc's own
// default spec (`runc spec`) edited with the runtime-spec types to share the
// host network, make the root file system read-only, drop every capability,
// run as the image's user, and mount /tmp (tmpfs) and the volumes.
func Bundle(runc, dir string, img v1.Image, r Run) error {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if err := Unpack(img, rootfs); err != nil {
		return err
	}
	if out, err := exec.Command(runc, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	uid, gid, err := resolveUser(rootfs, cf.Config.User)
	if err != nil {
		return err
	}
	args := r.Args
	if args == nil {
		args = cf.Config.Cmd
	}
	s.Process.Terminal = false
	s.Process.Args = append(slices.Clone(cf.Config.Entrypoint), args...)
	s.Process.Env = append(slices.Clone(cf.Config.Env), r.Env...)
	s.Process.Cwd = cf.Config.WorkingDir
	s.Process.User = specs.User{UID: uid, GID: gid}
	s.Process.NoNewPrivileges = true
	s.Process.Capabilities = &specs.LinuxCapabilities{} // capabilities: drop ALL
	s.Root = &specs.Root{Path: "rootfs", Readonly: true}
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
		return n.Type == specs.NetworkNamespace // hostNetwork
	})
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs",
		Options: []string{"nosuid", "nodev", "mode=1777", "size=64m"}})
	if r.Memory > 0 {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &r.Memory}
	}
	for dst, src := range r.Mounts {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: src,
			Options: []string{"rbind", "rw", "nosuid", "nodev"}})
	}
	out, err := json.MarshalIndent(&s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), out, 0o644)
}

// resolveUser turns an image USER (name or uid, optional :group) into ids
// through the rootfs' /etc/passwd and /etc/group, as a container engine does.
func resolveUser(rootfs, user string) (uint32, uint32, error) {
	name, grp, hasGroup := strings.Cut(user, ":")
	uidS, gidS, err := lookup(filepath.Join(rootfs, "etc/passwd"), name, 2, 3)
	if err != nil {
		return 0, 0, err
	}
	if hasGroup {
		if gidS, _, err = lookup(filepath.Join(rootfs, "etc/group"), grp, 2, 2); err != nil {
			return 0, 0, err
		}
	}
	uid, err1 := strconv.ParseUint(uidS, 10, 32)
	gid, err2 := strconv.ParseUint(gidS, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("user %q: bad ids %q:%q", user, uidS, gidS)
	}
	return uint32(uid), uint32(gid), nil
}

// lookup finds name (or a numeric id in field a) in a colon-separated file and
// returns fields a and b of its line.
func lookup(file, name string, a, b int) (string, string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > max(a, b) && (fields[0] == name || fields[a] == name) {
			return fields[a], fields[b], nil
		}
	}
	return "", "", fmt.Errorf("%s has no entry %q", file, name)
}
