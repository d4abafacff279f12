//go:build !linux

package vfs

import "os"

// preallocate is a no-op where fallocate is not available: files grow as
// they are written.
func preallocate(*os.File, int64) error { return nil }
