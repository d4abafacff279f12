//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package logs

import "os"

// lockDir is a no-op where flock is unavailable.
func lockDir(string) (*os.File, error) { return nil, nil }

func unlockDir(*os.File) error { return nil }
