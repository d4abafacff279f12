// Package memfs is a vfs.FS held in memory: a file system a test can
// create by the thousand, cheaply and without touching the host's disk,
// under the real log code (usually with faultfs on top to crash it).
//
// It follows the host's semantics where the log code can tell: open
// flags, an unlinked file staying readable through a handle open on it,
// rename replacing a file but not a directory, Remove refusing a
// non-empty directory. It has no notion of durability: Sync and SyncDir
// only check their argument, and nothing is ever lost; faultfs models the
// losses.
package memfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/internal/vfs"
)

// FS is an in-memory file system, empty but for its root. Its zero value
// is not usable: New.
type FS struct {
	// mu guards the whole tree: every node's children and data, and the
	// position and closed flag of every open handle. One lock is enough
	// for the tests it serves and makes each operation atomic, as a rename
	// is on a real file system.
	mu   sync.Mutex
	root *node
}

// node is a file or a directory.
type node struct {
	dir      bool
	children map[string]*node // directories only
	data     []byte           // files only
	mode     fs.FileMode
}

// New returns an empty file system. Paths name the same file whether
// absolute or not: "/a/b", "a/b" and "./a/b" are one.
func New() *FS {
	return &FS{root: &node{dir: true, children: map[string]*node{}, mode: fs.ModeDir | 0o755}}
}

var _ vfs.FS = (*FS)(nil)

// split cleans name into its components; the root has none.
func split(name string) []string {
	clean := strings.Trim(filepath.ToSlash(filepath.Clean(name)), "/")
	if clean == "" || clean == "." {
		return nil
	}
	return strings.Split(clean, "/")
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// lookup finds the node at name; mu must be held.
func (f *FS) lookup(op, name string) (*node, error) {
	n := f.root
	for _, c := range split(name) {
		if !n.dir {
			return nil, pathErr(op, name, syscall.ENOTDIR)
		}
		next, ok := n.children[c]
		if !ok {
			return nil, pathErr(op, name, fs.ErrNotExist)
		}
		n = next
	}
	return n, nil
}

// parent finds the directory that holds (or would hold) name and name's
// last component; mu must be held.
func (f *FS) parent(op, name string) (*node, string, error) {
	cs := split(name)
	if len(cs) == 0 {
		return nil, "", pathErr(op, name, fs.ErrInvalid) // the root has no parent
	}
	dir, err := f.lookup(op, path.Join(cs[:len(cs)-1]...))
	if err != nil {
		return nil, "", pathErr(op, name, errors.Unwrap(err))
	}
	if !dir.dir {
		return nil, "", pathErr(op, name, syscall.ENOTDIR)
	}
	return dir, cs[len(cs)-1], nil
}

// OpenFile opens name as os.OpenFile would, honouring O_RDONLY, O_WRONLY,
// O_RDWR, O_CREATE, O_EXCL, O_TRUNC and O_APPEND. A directory opens only
// read-only, and reads from it fail.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	const op = "open"
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	n, err := f.lookup(op, name)
	switch {
	case errors.Is(err, fs.ErrNotExist) && flag&os.O_CREATE != 0:
		dir, base, perr := f.parent(op, name)
		if perr != nil {
			return nil, perr
		}
		n = &node{mode: perm & fs.ModePerm}
		dir.children[base] = n
	case err != nil:
		return nil, err
	case flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathErr(op, name, fs.ErrExist)
	case n.dir && (writable || flag&os.O_TRUNC != 0):
		return nil, pathErr(op, name, syscall.EISDIR)
	}
	if flag&os.O_TRUNC != 0 && writable {
		n.data = n.data[:0:0]
	}
	return &file{fs: f, n: n, name: name, flag: flag}, nil
}

func (f *FS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, pathErr("read", name, syscall.EISDIR)
	}
	return slices.Clone(n.data), nil
}

// Rename moves oldpath to newpath, replacing a file there, or an empty
// directory when oldpath is a directory too.
func (f *FS) Rename(oldpath, newpath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	const op = "rename"
	odir, obase, err := f.parent(op, oldpath)
	if err != nil {
		return err
	}
	n, ok := odir.children[obase]
	if !ok {
		return pathErr(op, oldpath, fs.ErrNotExist)
	}
	ndir, nbase, err := f.parent(op, newpath)
	if err != nil {
		return err
	}
	if n.dir && isWithin(split(newpath), split(oldpath)) {
		if slices.Equal(split(newpath), split(oldpath)) {
			return nil
		}
		return pathErr(op, newpath, fs.ErrInvalid) // into its own subtree
	}
	if old, ok := ndir.children[nbase]; ok && old != n {
		switch {
		case old.dir && !n.dir:
			return pathErr(op, newpath, syscall.EISDIR)
		case !old.dir && n.dir:
			return pathErr(op, newpath, syscall.ENOTDIR)
		case old.dir && len(old.children) > 0:
			return pathErr(op, newpath, syscall.ENOTEMPTY)
		}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// isWithin reports whether p is at or below dir.
func isWithin(p, dir []string) bool {
	return len(p) >= len(dir) && slices.Equal(p[:len(dir)], dir)
}

// Remove removes a file or an empty directory. A handle open on a removed
// file keeps working on its data.
func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	const op = "remove"
	dir, base, err := f.parent(op, name)
	if err != nil {
		return err
	}
	n, ok := dir.children[base]
	switch {
	case !ok:
		return pathErr(op, name, fs.ErrNotExist)
	case n.dir && len(n.children) > 0:
		return pathErr(op, name, syscall.ENOTEMPTY)
	}
	delete(dir.children, base)
	return nil
}

// ReadDir lists a directory sorted by name, as os.ReadDir does.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, pathErr("readdirent", name, syscall.ENOTDIR)
	}
	names := make([]string, 0, len(n.children))
	for c := range n.children {
		names = append(names, c)
	}
	slices.Sort(names)
	out := make([]fs.DirEntry, len(names))
	for i, c := range names {
		out[i] = fs.FileInfoToDirEntry(n.children[c].info(c))
	}
	return out, nil
}

func (f *FS) MkdirAll(name string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.root
	for _, c := range split(name) {
		next, ok := n.children[c]
		if !ok {
			next = &node{dir: true, children: map[string]*node{}, mode: fs.ModeDir | perm&fs.ModePerm}
			n.children[c] = next
		}
		if !next.dir {
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		n = next
	}
	return nil
}

func (f *FS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(path.Base(filepath.ToSlash(name))), nil
}

// SyncDir checks that dir is a directory; entries are never lost here.
func (f *FS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("open", dir)
	if err != nil {
		return err
	}
	if !n.dir {
		return pathErr("fsync", dir, syscall.ENOTDIR)
	}
	return nil
}

// info describes n under the name base; mu must be held.
func (n *node) info(base string) fs.FileInfo {
	return fileInfo{name: base, size: int64(len(n.data)), mode: n.mode}
}

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// file is an open handle. Its node stays reachable through it after a
// Remove or a Rename, as an open descriptor does.
type file struct {
	fs   *FS
	n    *node
	name string
	flag int
	// pos and closed are guarded by fs.mu.
	pos    int64
	closed bool
}

func (h *file) Name() string { return h.name }

// usable checks the handle for an operation at off (an offset or a
// size, never negative); mu must be held.
func (h *file) usable(op string, write bool, off int64) error {
	switch {
	case h.closed:
		return pathErr(op, h.name, fs.ErrClosed)
	case write && h.flag&(os.O_WRONLY|os.O_RDWR) == 0, !write && h.flag&os.O_WRONLY != 0:
		return pathErr(op, h.name, syscall.EBADF)
	case h.n.dir:
		return pathErr(op, h.name, syscall.EISDIR)
	case off < 0:
		return pathErr(op, h.name, fs.ErrInvalid)
	}
	return nil
}

func (h *file) Read(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	n, err := h.readAt("read", p, h.pos)
	h.pos += int64(n)
	if n > 0 {
		return n, nil // io.Reader: the EOF comes with the next call
	}
	return 0, err
}

func (h *file) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return h.readAt("read", p, off)
}

// readAt reads as io.ReaderAt says: a short read comes with io.EOF; mu
// must be held.
func (h *file) readAt(op string, p []byte, off int64) (int, error) {
	if err := h.usable(op, false, off); err != nil {
		return 0, err
	}
	if off >= int64(len(h.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *file) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	off := h.pos
	if h.flag&os.O_APPEND != 0 {
		off = int64(len(h.n.data))
	}
	n, err := h.writeAt("write", p, off)
	h.pos = off + int64(n)
	return n, err
}

// WriteAt is refused on a handle opened O_APPEND, as os.File refuses it.
func (h *file) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.flag&os.O_APPEND != 0 {
		return 0, pathErr("writeat", h.name, errors.New("invalid use of WriteAt on file opened with O_APPEND"))
	}
	return h.writeAt("write", p, off)
}

// writeAt writes p at off, filling any gap with zeros; mu must be held.
func (h *file) writeAt(op string, p []byte, off int64) (int, error) {
	if err := h.usable(op, true, off); err != nil {
		return 0, err
	}
	h.n.resize(max(int64(len(h.n.data)), off+int64(len(p))))
	return copy(h.n.data[off:], p), nil
}

// resize sets the file's length, with zeros past the old end.
func (n *node) resize(size int64) {
	if size <= int64(len(n.data)) {
		clear(n.data[size:])
		n.data = n.data[:size]
		return
	}
	n.data = slices.Grow(n.data, int(size)-len(n.data))[:size]
}

func (h *file) Truncate(size int64) error { return h.setSize("truncate", size, false) }

// Preallocate extends the file to size with zeros, never shrinking it,
// as fallocate does.
func (h *file) Preallocate(size int64) error { return h.setSize("fallocate", size, true) }

// setSize makes the file size bytes long, or at least that when growOnly.
func (h *file) setSize(op string, size int64, growOnly bool) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.usable(op, true, size); err != nil {
		return err
	}
	if growOnly {
		size = max(size, int64(len(h.n.data)))
	}
	h.n.resize(size)
	return nil
}

func (h *file) Stat() (fs.FileInfo, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return nil, pathErr("stat", h.name, fs.ErrClosed)
	}
	return h.n.info(path.Base(filepath.ToSlash(h.name))), nil
}

// Sync only checks the handle: memory is as durable as this FS gets.
func (h *file) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return pathErr("sync", h.name, fs.ErrClosed)
	}
	return nil
}

func (h *file) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return pathErr("close", h.name, fs.ErrClosed)
	}
	h.closed = true
	return nil
}
