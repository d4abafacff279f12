// Package faultfs is a vfs.FS that breaks on purpose: it fails the Nth
// write or fsync, tears a write (part of it lands, then it fails), and, on
// Crash, loses what was written since each file's last Sync, as a power
// cut would. It wraps a real file system, so the code under test runs on
// real files.
//
// What it models: file data. Directory operations (create, rename,
// remove) are durable as soon as they return; it never loses a file.
package faultfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/raftkv/raftkv/internal/vfs"
)

// ErrInjected is the error of an injected fault, unless the fault names
// its own.
var ErrInjected = errors.New("faultfs: injected fault")

// ErrCrashed is what every operation returns after Crash.
var ErrCrashed = errors.New("faultfs: the disk crashed")

// Op is a kind of operation a fault can hit.
type Op int

const (
	OpWrite Op = iota // a Write or WriteAt
	OpSync            // a File.Sync (SyncDir is not counted)
)

func (o Op) String() string {
	if o == OpSync {
		return "sync"
	}
	return "write"
}

// fault fails the nth operation of its kind; a write fault lets keep
// bytes of that write land first (a torn write).
type fault struct {
	op   Op
	n    int // the count of op at which it fires
	keep int
	err  error
}

// change is one unsynced change to a file, with what Crash needs to take
// it back: the size before it and the bytes it overwrote.
type change struct {
	off      int64
	prior    []byte
	prevSize int64
}

// FS is the faulty file system. Its zero value is not usable: New.
type FS struct {
	inner vfs.FS

	// mu guards everything below; operations are serialised, which a
	// test of one log does not mind.
	mu       sync.Mutex
	counts   [2]int // operations of each Op seen
	faults   []fault
	unsynced map[string][]change // by path: changes since its last Sync
	crashed  bool
}

// New wraps inner (vfs.OS, normally, over a test's directory).
func New(inner vfs.FS) *FS {
	return &FS{inner: inner, unsynced: map[string][]change{}}
}

// Count is how many operations of kind op were seen so far.
func (f *FS) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

// FailNth makes the nth operation of kind op from now on (1 is the next
// one) fail with err (ErrInjected when nil), without effect.
func (f *FS) FailNth(op Op, n int, err error) { f.add(fault{op: op, n: n, keep: -1, err: err}) }

// TearNth makes the nth write from now on write only its first keep bytes
// and then fail with err (ErrInjected when nil).
func (f *FS) TearNth(n, keep int, err error) { f.add(fault{op: OpWrite, n: n, keep: keep, err: err}) }

func (f *FS) add(ft fault) {
	if ft.n < 1 {
		panic(fmt.Sprintf("faultfs: fault at operation %d: counts start at 1", ft.n))
	}
	if ft.err == nil {
		ft.err = ErrInjected
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ft.n += f.counts[ft.op]
	f.faults = append(f.faults, ft)
}

// next counts an operation and returns the fault that hits it, if any.
func (f *FS) next(op Op) (fault, bool) {
	f.counts[op]++
	for i, ft := range f.faults {
		if ft.op == op && ft.n == f.counts[op] {
			f.faults = append(f.faults[:i], f.faults[i+1:]...)
			return ft, true
		}
	}
	return fault{}, false
}

// Crash loses unsynced data: for every file, it keeps the first
// keep(path, n) of its n unsynced changes and takes back the rest, newest
// first (keep nil keeps none). Every later operation, through this FS or
// a file opened from it, fails with ErrCrashed: reopen through a new FS.
func (f *FS) Crash(keep func(path string, n int) int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashed = true
	var errs []error
	for path, chs := range f.unsynced {
		k := 0
		if keep != nil {
			k = min(max(keep(path, len(chs)), 0), len(chs))
		}
		if err := f.undo(path, chs[k:]); err != nil {
			errs = append(errs, err)
		}
	}
	f.unsynced = nil
	return errors.Join(errs...)
}

// undo takes back chs, newest first, on the real file at path.
func (f *FS) undo(path string, chs []change) error {
	if len(chs) == 0 {
		return nil
	}
	file, err := f.inner.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed since: nothing to take back
	}
	if err != nil {
		return fmt.Errorf("faultfs: crash: open %s: %w", path, err)
	}
	defer file.Close()
	for i := len(chs) - 1; i >= 0; i-- {
		c := chs[i]
		if err := file.Truncate(c.prevSize); err != nil {
			return fmt.Errorf("faultfs: crash: truncate %s: %w", path, err)
		}
		if len(c.prior) > 0 {
			if _, err := file.WriteAt(c.prior, c.off); err != nil {
				return fmt.Errorf("faultfs: crash: restore %s: %w", path, err)
			}
		}
	}
	return nil
}

func (f *FS) check() error {
	if f.crashed {
		return ErrCrashed
	}
	return nil
}

func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	var prior []byte
	if flag&os.O_TRUNC != 0 {
		// Truncating an existing file is a change to its data: a crash
		// before the next Sync brings the old contents back.
		if b, err := f.inner.ReadFile(name); err == nil && len(b) > 0 {
			prior = b
		}
	}
	inner, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if prior != nil {
		f.unsynced[name] = append(f.unsynced[name], change{off: 0, prior: prior, prevSize: int64(len(prior))})
	}
	return &file{fs: f, inner: inner, name: name, append: flag&os.O_APPEND != 0}, nil
}

func (f *FS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.inner.ReadFile(name)
}

func (f *FS) Rename(oldpath, newpath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if err := f.inner.Rename(oldpath, newpath); err != nil {
		return err
	}
	// The unsynced changes travel with the data.
	chs, ok := f.unsynced[oldpath]
	delete(f.unsynced, oldpath)
	delete(f.unsynced, newpath)
	if ok {
		f.unsynced[newpath] = chs
	}
	return nil
}

func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if err := f.inner.Remove(name); err != nil {
		return err
	}
	delete(f.unsynced, name)
	return nil
}

func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.inner.ReadDir(name)
}

func (f *FS) MkdirAll(path string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	return f.inner.MkdirAll(path, perm)
}

func (f *FS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.inner.Stat(name)
}

func (f *FS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

// file is a vfs.File opened through FS.
type file struct {
	fs    *FS
	inner vfs.File
	name  string
	pos   int64 // for Read and Write; WriteAt and ReadAt do not move it
	// append: opened O_APPEND, so every Write lands at the end (and
	// WriteAt is refused, as os.File refuses it).
	append bool
}

func (h *file) Name() string { return h.name }

func (h *file) Read(p []byte) (int, error) {
	n, err := h.ReadAt(p, h.pos)
	h.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (h *file) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.check(); err != nil {
		return 0, err
	}
	return h.inner.ReadAt(p, off)
}

func (h *file) Write(p []byte) (int, error) {
	if h.append {
		return h.write(p, -1)
	}
	n, err := h.write(p, h.pos)
	h.pos += int64(n)
	return n, err
}

func (h *file) WriteAt(p []byte, off int64) (int, error) {
	if h.append {
		return 0, fmt.Errorf("faultfs: WriteAt on %s, opened O_APPEND", h.name)
	}
	return h.write(p, off)
}

// write writes p at off, or at the end when off is -1 (O_APPEND).
func (h *file) write(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.check(); err != nil {
		return 0, err
	}
	if off < 0 {
		st, err := h.inner.Stat()
		if err != nil {
			return 0, err
		}
		off = st.Size()
	}
	ft, hit := h.fs.next(OpWrite)
	if hit && ft.keep < 0 {
		return 0, ft.err
	}
	if hit {
		p = p[:min(ft.keep, len(p))]
	}
	if err := h.record(off, int64(len(p))); err != nil {
		return 0, err
	}
	var n int
	var err error
	if h.append {
		n, err = h.inner.Write(p)
	} else {
		n, err = h.inner.WriteAt(p, off)
	}
	if err == nil && hit {
		err = ft.err
	}
	return n, err
}

// record notes, before a change of n bytes at off, what a crash must put
// back.
func (h *file) record(off, n int64) error {
	st, err := h.inner.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	c := change{off: off, prevSize: size}
	if off < size {
		c.prior = make([]byte, min(n, size-off))
		if _, err := h.inner.ReadAt(c.prior, off); err != nil && err != io.EOF {
			return err
		}
	}
	h.fs.unsynced[h.name] = append(h.fs.unsynced[h.name], c)
	return nil
}

func (h *file) Truncate(size int64) error    { return h.resize(size, h.inner.Truncate) }
func (h *file) Preallocate(size int64) error { return h.resize(size, h.inner.Preallocate) }

// resize records what changing the file's length to size takes away (the
// bytes past it) or adds (nothing to keep), then has do change it.
func (h *file) resize(size int64, do func(int64) error) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.check(); err != nil {
		return err
	}
	st, err := h.inner.Stat()
	if err != nil {
		return err
	}
	cur := st.Size()
	if err := h.record(min(size, cur), max(cur-size, 0)); err != nil {
		return err
	}
	return do(size)
}

func (h *file) Stat() (fs.FileInfo, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.check(); err != nil {
		return nil, err
	}
	return h.inner.Stat()
}

func (h *file) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.check(); err != nil {
		return err
	}
	if ft, hit := h.fs.next(OpSync); hit {
		return ft.err
	}
	if err := h.inner.Sync(); err != nil {
		return err
	}
	delete(h.fs.unsynced, h.name)
	return nil
}

// Close closes the file; it works after a crash, so that the code under
// test can let go of what it held.
func (h *file) Close() error { return h.inner.Close() }
