package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/internal/vfs"
	"github.com/raftkv/raftkv/internal/vfs/memfs"
)

// onEachFS runs test on top of the host's file system and of memfs, which
// the simulation crashes through faultfs: both must behave alike under it.
func onEachFS(t *testing.T, test func(t *testing.T, inner vfs.FS, dir string)) {
	t.Run("os", func(t *testing.T) { test(t, vfs.OS, t.TempDir()) })
	t.Run("memfs", func(t *testing.T) {
		inner := memfs.New()
		if err := inner.MkdirAll("/tmp/test", 0o755); err != nil {
			t.Fatal(err)
		}
		test(t, inner, "/tmp/test")
	})
}

func open(t *testing.T, f *FS, path string, flag int) vfs.File {
	t.Helper()
	h, err := f.OpenFile(path, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// afterCrash crashes f, keeping keep's choice of unsynced changes, and
// returns what path then holds.
func afterCrash(t *testing.T, f *FS, keep func(string, int) int, path string) string {
	t.Helper()
	if err := f.Crash(keep); err != nil {
		t.Fatal(err)
	}
	return contents(t, f.inner, path)
}

func contents(t *testing.T, inner vfs.FS, path string) string {
	t.Helper()
	b, err := inner.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Crash keeps what was synced and takes back the rest: overwrites, appends,
// truncations, in the order they happened.
func TestCrashLosesUnsyncedChanges(t *testing.T) {
	onEachFS(t, func(t *testing.T, inner vfs.FS, dir string) {
		path := filepath.Join(dir, "f")
		f := New(inner)
		h := open(t, f, path, os.O_RDWR|os.O_CREATE)
		if _, err := h.Write([]byte("hello world")); err != nil {
			t.Fatal(err)
		}
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
		h.WriteAt([]byte("HELLO"), 0) // overwrite
		h.WriteAt([]byte("!!!"), 11)  // append
		h.Truncate(4)                 // shrink
		h.WriteAt([]byte("p me"), 4)  // grow again
		if got := contents(t, inner, path); got != "HELLp me" {
			t.Fatalf("before the crash the file reads %q", got)
		}
		if got := afterCrash(t, f, nil, path); got != "hello world" {
			t.Errorf("after the crash: %q, want the synced %q", got, "hello world")
		}
		if _, err := h.Write([]byte("x")); !errors.Is(err, ErrCrashed) {
			t.Errorf("write after the crash: %v", err)
		}
		if _, err := f.OpenFile(path, os.O_RDONLY, 0); !errors.Is(err, ErrCrashed) {
			t.Errorf("open after the crash: %v", err)
		}
	})
}

// keep chooses how many of a file's unsynced changes survive.
func TestCrashKeepsAPrefix(t *testing.T) {
	onEachFS(t, func(t *testing.T, inner vfs.FS, dir string) {
		path := filepath.Join(dir, "f")
		f := New(inner)
		h := open(t, f, path, os.O_RDWR|os.O_CREATE)
		for _, s := range []string{"a", "b", "c"} {
			h.Write([]byte(s))
		}
		if got := afterCrash(t, f, func(p string, n int) int {
			if p != path || n != 3 {
				t.Errorf("keep(%s, %d)", p, n)
			}
			return 2
		}, path); got != "ab" {
			t.Errorf("kept %q, want the first two writes", got)
		}
	})
}

func TestInjectedFaults(t *testing.T) {
	onEachFS(t, func(t *testing.T, inner vfs.FS, dir string) {
		path := filepath.Join(dir, "f")
		f := New(inner)
		h := open(t, f, path, os.O_RDWR|os.O_CREATE)
		boom := errors.New("boom")
		f.FailNth(OpWrite, 2, boom)
		f.TearNth(3, 2, nil)
		f.FailNth(OpSync, 1, nil)
		if _, err := h.Write([]byte("one ")); err != nil {
			t.Fatalf("write 1: %v", err)
		}
		if n, err := h.Write([]byte("two ")); !errors.Is(err, boom) || n != 0 {
			t.Fatalf("write 2: %d, %v; want 0 bytes and boom", n, err)
		}
		if n, err := h.Write([]byte("three")); !errors.Is(err, ErrInjected) || n != 2 {
			t.Fatalf("write 3: %d, %v; want a torn write of 2 bytes", n, err)
		}
		if err := h.Sync(); !errors.Is(err, ErrInjected) {
			t.Fatalf("sync 1: %v", err)
		}
		if got := contents(t, inner, path); got != "one th" {
			t.Errorf("file %q", got)
		}
		if f.Count(OpWrite) != 3 || f.Count(OpSync) != 1 {
			t.Errorf("counts: %d writes, %d syncs", f.Count(OpWrite), f.Count(OpSync))
		}
		// The failed sync made nothing durable.
		if got := afterCrash(t, f, nil, path); got != "" {
			t.Errorf("after the crash: %q, want nothing (no sync succeeded)", got)
		}
	})
}

// A rename carries the unsynced changes along; O_TRUNC of a synced file
// is a change a crash takes back.
func TestRenameAndTruncateOnOpen(t *testing.T) {
	onEachFS(t, func(t *testing.T, inner vfs.FS, dir string) {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		f := New(inner)
		h := open(t, f, a, os.O_RDWR|os.O_CREATE)
		h.Write([]byte("synced"))
		h.Sync()
		h.Close()
		h = open(t, f, a, os.O_RDWR|os.O_TRUNC)
		h.Write([]byte("new"))
		if err := f.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		if got := afterCrash(t, f, nil, b); got != "synced" {
			t.Errorf("renamed file after the crash: %q", got)
		}
	})
}

// O_APPEND: every Write lands at the end, WriteAt is refused (as os.File
// refuses it), and a crash takes appends back like any other change.
func TestAppendMode(t *testing.T) {
	onEachFS(t, func(t *testing.T, inner vfs.FS, dir string) {
		path := filepath.Join(dir, "f")
		f := New(inner)
		h := open(t, f, path, os.O_RDWR|os.O_CREATE|os.O_APPEND)
		h.Write([]byte("ab"))
		h.Write([]byte("cd"))
		if _, err := h.WriteAt([]byte("x"), 0); err == nil {
			t.Error("WriteAt on an O_APPEND file was accepted")
		}
		if got := contents(t, inner, path); got != "abcd" {
			t.Fatalf("file %q", got)
		}
		if got := afterCrash(t, f, func(string, int) int { return 1 }, path); got != "ab" {
			t.Errorf("after the crash: %q, want the first append only", got)
		}
	})
}
