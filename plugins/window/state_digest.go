package window

import "crypto/sha256"

// stateDigest identifies a snapshot's bytes (collisions are not a concern
// of SHA-256): a processor that skips writing a state equal to the last one
// keeps this instead of the state itself.
type stateDigest struct {
	n   int
	sum [sha256.Size]byte
	set bool
}

// digestOf is data's digest; nil data (no state) has none, equal to no
// snapshot's.
func digestOf(data []byte) stateDigest {
	if data == nil {
		return stateDigest{}
	}
	return stateDigest{n: len(data), sum: sha256.Sum256(data), set: true}
}
