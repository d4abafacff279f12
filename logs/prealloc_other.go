//go:build !linux

package logs

import "os"

// preallocate is a no-op where fallocate is not available: segments grow
// as they are written.
func preallocate(*os.File, int64) error { return nil }
