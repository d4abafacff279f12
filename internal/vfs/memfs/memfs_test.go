package memfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/raftkv/raftkv/internal/vfs"
)

func mustOpen(t *testing.T, f *FS, name string, flag int) vfs.File {
	t.Helper()
	h, err := f.OpenFile(name, flag, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return h
}

func mustWrite(t *testing.T, f *FS, name, data string) {
	t.Helper()
	h := mustOpen(t, f, name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if _, err := h.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	h.Close()
}

func read(t *testing.T, f *FS, name string) string {
	t.Helper()
	b, err := f.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// fixture is a tree of a directory d holding a file d/f ("data") and an
// empty directory d/e, plus a file top ("top").
func fixture(t *testing.T) *FS {
	t.Helper()
	f := New()
	if err := f.MkdirAll("/d/e", 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "/d/f", "data")
	mustWrite(t, f, "/top", "top")
	return f
}

// Opening follows os.OpenFile's flags, and refuses what it refuses.
func TestOpenFile(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		flag       int
		wantErr    error  // nil: it opens
		after      string // what path then holds, when it opens a file
	}{
		{"missing file", "/d/nope", os.O_RDONLY, fs.ErrNotExist, ""},
		{"missing parent", "/nope/f", os.O_RDWR | os.O_CREATE, fs.ErrNotExist, ""},
		{"parent is a file", "/top/f", os.O_RDWR | os.O_CREATE, syscall.ENOTDIR, ""},
		{"exclusive onto an existing file", "/d/f", os.O_RDWR | os.O_CREATE | os.O_EXCL, fs.ErrExist, ""},
		{"directory for writing", "/d", os.O_RDWR, syscall.EISDIR, ""},
		{"directory truncated", "/d", os.O_RDONLY | os.O_TRUNC, syscall.EISDIR, ""},
		{"root has no parent to create in", "/", os.O_RDWR | os.O_CREATE, syscall.EISDIR, ""},
		{"existing, read-only", "/d/f", os.O_RDONLY, nil, "data"},
		{"existing, truncated", "/d/f", os.O_RDWR | os.O_TRUNC, nil, ""},
		{"created", "/d/new", os.O_WRONLY | os.O_CREATE, nil, ""},
		{"created exclusively", "/d/new", os.O_WRONLY | os.O_CREATE | os.O_EXCL, nil, ""},
		{"relative names the same file", "d/./f", os.O_RDONLY, nil, "data"},
		{"directory read-only", "/d", os.O_RDONLY, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fixture(t)
			h, err := f.OpenFile(tc.path, tc.flag, 0o600)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				var pe *fs.PathError
				if !errors.As(err, &pe) {
					t.Errorf("%v is not a *fs.PathError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if st, _ := h.Stat(); !st.IsDir() {
				if got := read(t, f, tc.path); got != tc.after {
					t.Errorf("file holds %q, want %q", got, tc.after)
				}
			}
		})
	}
}

// Reads and writes on a handle: positions, offsets, holes, EOF, access
// modes, O_APPEND, Truncate, Preallocate, and a closed handle.
func TestFileIO(t *testing.T) {
	f := New()
	h := mustOpen(t, f, "f", os.O_RDWR|os.O_CREATE)
	if n, err := h.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if _, err := h.WriteAt([]byte("!"), 7); err != nil { // leaves a hole
		t.Fatal(err)
	}
	if got := read(t, f, "f"); got != "hello\x00\x00!" {
		t.Fatalf("file %q", got)
	}
	buf := make([]byte, 4)
	if n, err := h.ReadAt(buf, 6); n != 2 || err != io.EOF {
		t.Errorf("short ReadAt: %d, %v; want 2, io.EOF", n, err)
	}
	if n, err := h.ReadAt(buf, 100); n != 0 || err != io.EOF {
		t.Errorf("ReadAt past the end: %d, %v", n, err)
	}
	if _, err := h.ReadAt(buf, -1); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadAt at -1: %v", err)
	}
	if _, err := h.WriteAt(buf, -1); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("WriteAt at -1: %v", err)
	}
	// Read goes on from where Write left off: the hole and the "!".
	if n, err := h.Read(buf); n != 3 || err != nil || string(buf[:n]) != "\x00\x00!" {
		t.Errorf("Read: %d %q, %v", n, buf[:n], err)
	}
	if n, err := h.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("Read at the end: %d, %v", n, err)
	}
	if err := h.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := h.Truncate(4); err != nil { // grows with zeros, not the old bytes
		t.Fatal(err)
	}
	if got := read(t, f, "f"); got != "he\x00\x00" {
		t.Errorf("after shrink and grow: %q", got)
	}
	if err := h.Truncate(-1); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Truncate(-1): %v", err)
	}
	if err := h.Preallocate(8); err != nil {
		t.Fatal(err)
	}
	if err := h.Preallocate(1); err != nil { // never shrinks
		t.Fatal(err)
	}
	if st, _ := h.Stat(); st.Size() != 8 || st.Name() != "f" || st.IsDir() {
		t.Errorf("stat after Preallocate: size %d, name %q", st.Size(), st.Name())
	}
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"write":    func() error { _, err := h.Write(buf); return err },
		"read":     func() error { _, err := h.ReadAt(buf, 0); return err },
		"truncate": func() error { return h.Truncate(0) },
		"sync":     h.Sync,
		"close":    h.Close,
	} {
		if err := op(); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("%s on a closed handle: %v", name, err)
		}
	}

	ro := mustOpen(t, f, "f", os.O_RDONLY)
	if _, err := ro.Write([]byte("x")); !errors.Is(err, syscall.EBADF) {
		t.Errorf("write to a read-only handle: %v", err)
	}
	if err := ro.Truncate(0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("truncate through a read-only handle: %v", err)
	}
	wo := mustOpen(t, f, "f", os.O_WRONLY)
	if _, err := wo.Read(buf); !errors.Is(err, syscall.EBADF) {
		t.Errorf("read from a write-only handle: %v", err)
	}
	dir := mustOpen(t, f, ".", os.O_RDONLY)
	if _, err := dir.Read(buf); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("read from a directory: %v", err)
	}

	ap := mustOpen(t, f, "a", os.O_WRONLY|os.O_CREATE|os.O_APPEND)
	ap.Write([]byte("ab"))
	ap2 := mustOpen(t, f, "a", os.O_WRONLY|os.O_APPEND)
	ap2.Write([]byte("cd"))
	ap.Write([]byte("ef")) // at the end, past what ap2 added
	if _, err := ap.WriteAt([]byte("x"), 0); err == nil {
		t.Error("WriteAt on an O_APPEND handle was accepted")
	}
	if got := read(t, f, "a"); got != "abcdef" {
		t.Errorf("appends: %q", got)
	}
}

// Tree operations, with the errors the host gives for bad input.
func TestTreeOps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		op      func(f *FS) error
		wantErr error
		check   func(t *testing.T, f *FS)
	}{
		{"rename a file", func(f *FS) error { return f.Rename("/d/f", "/g") }, nil, func(t *testing.T, f *FS) {
			if got := read(t, f, "/g"); got != "data" {
				t.Errorf("moved file holds %q", got)
			}
			if _, err := f.Stat("/d/f"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("old name: %v", err)
			}
		}},
		{"rename replaces a file", func(f *FS) error { return f.Rename("/d/f", "/top") }, nil, func(t *testing.T, f *FS) {
			if got := read(t, f, "/top"); got != "data" {
				t.Errorf("replaced file holds %q", got)
			}
		}},
		{"rename a directory", func(f *FS) error { return f.Rename("/d", "/d2") }, nil, func(t *testing.T, f *FS) {
			if got := read(t, f, "/d2/f"); got != "data" {
				t.Errorf("moved tree holds %q", got)
			}
		}},
		{"rename onto itself", func(f *FS) error { return f.Rename("/d", "/d") }, nil, nil},
		{"rename a directory onto an empty one", func(f *FS) error { return f.Rename("/d", "/d/e") },
			fs.ErrInvalid, nil}, // into its own subtree
		{"rename a file onto a directory", func(f *FS) error { return f.Rename("/top", "/d/e") }, syscall.EISDIR, nil},
		{"rename a directory onto a file", func(f *FS) error { return f.Rename("/d/e", "/top") }, syscall.ENOTDIR, nil},
		{"rename onto a non-empty directory", func(f *FS) error {
			f.MkdirAll("/x", 0o755)
			return f.Rename("/x", "/d")
		}, syscall.ENOTEMPTY, nil},
		{"rename a missing file", func(f *FS) error { return f.Rename("/nope", "/g") }, fs.ErrNotExist, nil},
		{"rename into a missing directory", func(f *FS) error { return f.Rename("/top", "/nope/g") }, fs.ErrNotExist, nil},
		{"rename the root", func(f *FS) error { return f.Rename("/", "/r") }, fs.ErrInvalid, nil},
		{"remove a file", func(f *FS) error { return f.Remove("/d/f") }, nil, func(t *testing.T, f *FS) {
			if _, err := f.ReadFile("/d/f"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("removed file: %v", err)
			}
		}},
		{"remove an empty directory", func(f *FS) error { return f.Remove("/d/e") }, nil, nil},
		{"remove a non-empty directory", func(f *FS) error { return f.Remove("/d") }, syscall.ENOTEMPTY, nil},
		{"remove a missing file", func(f *FS) error { return f.Remove("/d/nope") }, fs.ErrNotExist, nil},
		{"mkdir through a file", func(f *FS) error { return f.MkdirAll("/top/x", 0o755) }, syscall.ENOTDIR, nil},
		{"mkdir of an existing tree", func(f *FS) error { return f.MkdirAll("/d/e", 0o755) }, nil, nil},
		{"readdir of a file", func(f *FS) error { _, err := f.ReadDir("/top"); return err }, syscall.ENOTDIR, nil},
		{"readdir of a missing directory", func(f *FS) error { _, err := f.ReadDir("/nope"); return err }, fs.ErrNotExist, nil},
		{"readfile of a directory", func(f *FS) error { _, err := f.ReadFile("/d"); return err }, syscall.EISDIR, nil},
		{"stat through a file", func(f *FS) error { _, err := f.Stat("/top/x"); return err }, syscall.ENOTDIR, nil},
		{"syncdir of a file", func(f *FS) error { return f.SyncDir("/top") }, syscall.ENOTDIR, nil},
		{"syncdir of a missing directory", func(f *FS) error { return f.SyncDir("/nope") }, fs.ErrNotExist, nil},
		{"syncdir", func(f *FS) error { return f.SyncDir("/d") }, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fixture(t)
			err := tc.op(f)
			if tc.wantErr == nil && err != nil || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestReadDirAndStat(t *testing.T) {
	f := fixture(t)
	for _, name := range []string{"c", "a", "b"} {
		mustWrite(t, f, "/d/e/"+name, name+name)
	}
	des, err := f.ReadDir("/d/e")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
		if info, _ := de.Info(); de.IsDir() || info.Size() != 2 {
			t.Errorf("%s: dir %v, size %d", de.Name(), de.IsDir(), info.Size())
		}
	}
	if len(names) != 3 || names[0] != "a" || names[1] != "b" || names[2] != "c" {
		t.Errorf("ReadDir not sorted: %v", names)
	}
	st, err := f.Stat("/d")
	if err != nil || !st.IsDir() || st.Name() != "d" {
		t.Errorf("stat of a directory: %v, %v", st, err)
	}
	if des, _ := f.ReadDir("/"); len(des) != 2 || !des[0].IsDir() || des[1].Name() != "top" {
		t.Errorf("root lists %v", des)
	}
}

// An open handle keeps its data through a Remove or a Rename of its name,
// as an open descriptor does; a new file under the name is another file.
func TestHandleOutlivesItsName(t *testing.T) {
	f := fixture(t)
	h := mustOpen(t, f, "/d/f", os.O_RDWR)
	defer h.Close()
	if err := f.Remove("/d/f"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "/d/f", "other")
	if _, err := h.WriteAt([]byte("D"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := h.ReadAt(buf, 0); err != nil || string(buf) != "Data" {
		t.Errorf("unlinked file reads %q, %v", buf, err)
	}
	if got := read(t, f, "/d/f"); got != "other" {
		t.Errorf("the new file holds %q", got)
	}
}

// The race detector checks the locking: handles and tree operations from
// many goroutines at once.
func TestConcurrentUse(t *testing.T) {
	f := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := string(rune('a' + i))
			h, err := f.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Close()
			shared, err := f.OpenFile("shared", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			defer shared.Close()
			for range 100 {
				h.Write([]byte("x"))
				shared.Write([]byte("y"))
				f.ReadDir(".")
				f.Rename(name, name+"2")
				f.Rename(name+"2", name)
			}
		}()
	}
	wg.Wait()
	if got := len(read(t, f, "shared")); got != 800 {
		t.Errorf("shared file has %d bytes, want 800: appends were lost", got)
	}
}
