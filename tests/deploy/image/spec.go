// Package image builds the rides-connect container image without a Docker
// engine: the same image the repository's Dockerfile describes, as an OCI image
// made with go-containerregistry, written to an OCI layout and unpacked into a
// runc bundle. The deploy tests check that this definition and the Dockerfile
// agree, so the image run here is the one users build.
package image

import (
	"path/filepath"
)

// Spec is the image: its runtime config and the files of its layers.
type Spec struct {
	Entrypoint   []string
	Cmd          []string
	User         string // as the Dockerfile's USER says it (name:group)
	WorkingDir   string
	ExposedPorts []string // "4195/tcp"
	Env          []string
	Base         []File // what gcr.io/distroless/static-debian12:nonroot provides that the job needs
	App          []File // the Dockerfile's COPY instructions of the final stage
}

// File is one entry of a layer. Content comes from Source (a host file) or Data.
type File struct {
	Path     string // absolute path in the image
	Source   string
	Data     []byte
	Mode     int64 // permission bits; a Dir entry when IsDir
	UID, GID int
	IsDir    bool
}

// Distroless static-debian12:nonroot: its config and the files this image uses
// from it (the non-root account 65532, CA certificates, /tmp, the home that is
// the working directory).
const (
	NonrootUID  = 65532
	NonrootHome = "/home/nonroot"
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
)

// BaseEnv is the environment the distroless base image sets.
var BaseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"SSL_CERT_FILE=" + CACertsPath,
}

const passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`

const group = `root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
`

// Configs are the files of config/ the image carries in /etc/rides-connect
// and the build stage lints: the silver job (the default command), its
// all-in-Kafka variant, the single-process job, the bronze job, the simulator.
var Configs = []string{"rides.yaml", "rides-scaleout.yaml", "rides-single.yaml", "bronze.yaml", "producer.yaml"}

// RidesConnect is the image of the Dockerfile: binary is a static build of
// ./cmd/rides-connect (see Build), caCerts a PEM bundle (the host's
// /etc/ssl/certs/ca-certificates.crt), repoRoot the checkout the configs come from.
func RidesConnect(repoRoot, binary, caCerts string) Spec {
	app := []File{
		{Path: "/usr", Mode: 0o755, IsDir: true},
		{Path: "/usr/local", Mode: 0o755, IsDir: true},
		{Path: "/usr/local/bin", Mode: 0o755, IsDir: true},
		{Path: "/usr/local/bin/rides-connect", Source: binary, Mode: 0o755},
		{Path: "/etc/rides-connect", Mode: 0o755, IsDir: true},
	}
	for _, c := range Configs {
		app = append(app, File{Path: "/etc/rides-connect/" + c, Source: filepath.Join(repoRoot, "config", c), Mode: 0o644})
	}
	return Spec{
		Entrypoint:   []string{"/usr/local/bin/rides-connect"},
		Cmd:          []string{"-c", "/etc/rides-connect/rides.yaml"},
		User:         "nonroot:nonroot",
		WorkingDir:   NonrootHome,
		ExposedPorts: []string{"4195/tcp"},
		Env:          BaseEnv,
		Base: []File{
			{Path: "/etc", Mode: 0o755, IsDir: true},
			{Path: "/etc/passwd", Data: []byte(passwd), Mode: 0o644},
			{Path: "/etc/group", Data: []byte(group), Mode: 0o644},
			{Path: "/etc/ssl", Mode: 0o755, IsDir: true},
			{Path: "/etc/ssl/certs", Mode: 0o755, IsDir: true},
			{Path: CACertsPath, Source: caCerts, Mode: 0o644},
			{Path: "/tmp", Mode: 0o1777, IsDir: true},
			{Path: "/home", Mode: 0o755, IsDir: true},
			{Path: NonrootHome, Mode: 0o700, UID: NonrootUID, GID: NonrootUID, IsDir: true},
		},
		App: app,
	}
}
