package image

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

const refAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout writes img as an OCI image layout at dir, tagged ref.
func WriteLayout(dir, ref string, img v1.Image) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{refAnnotation: ref}))
}

// ReadLayout returns the image tagged ref in the OCI layout at dir.
func ReadLayout(dir, ref string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Annotations[refAnnotation] == ref {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no image %q in the OCI layout %s", ref, dir)
}
