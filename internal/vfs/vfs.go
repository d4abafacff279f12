// Package vfs is the file system the durable log works through: the few
// operations it needs, so that a test can put a faulty disk under the real
// code (package faultfs) instead of a model of it. OS is the real one.
package vfs

import (
	"io"
	"io/fs"
	"os"
)

// FS is a file system. Paths are the host's.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	ReadFile(name string) ([]byte, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	ReadDir(name string) ([]fs.DirEntry, error)
	MkdirAll(path string, perm fs.FileMode) error
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes dir's entries (creations, renames, removals) durable.
	SyncDir(dir string) error
}

// File is an open file.
type File interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.WriterAt
	io.Closer
	Name() string
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	// Sync makes the file's data durable: what it wrote before survives a
	// crash once Sync returns nil (fdatasync on Linux).
	Sync() error
	// Preallocate reserves size bytes of disk for the file and extends it
	// to that length with zeros, so later writes land inside it; a file
	// system that cannot may do nothing.
	Preallocate(size int64) error
}

// OS is the host's file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) ReadFile(name string) ([]byte, error)         { return os.ReadFile(name) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ *os.File }

func (f osFile) Sync() error                  { return fdatasync(f.File) }
func (f osFile) Preallocate(size int64) error { return preallocate(f.File, size) }
