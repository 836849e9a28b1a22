// Package all imports every rides-connect plugin package for its registration
// side effects. Add a line here when a new plugin package is created.
package all

import ()
