//go:build !linux && !darwin

package blob

import "os"

// cloneInto: block cloning on Windows ReFS (FSCTL_DUPLICATE_EXTENTS_TO_FILE)
// is not implemented yet, so other systems always copy.
func cloneInto(*os.File, string) (*os.File, error) { return nil, ErrNoClone }
