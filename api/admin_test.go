package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

type fakeSnapshots struct{ files map[uint64][]byte }

func (f *fakeSnapshots) OpenRaw(index uint64) (io.ReadCloser, int64, error) {
	b, ok := f.files[index]
	if !ok {
		return nil, 0, errors.New("no snapshot")
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func TestAdminSnapshot(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	node.index = 42
	h := newTestServer(t, Options{}, node, store).Handler()
	rec := serve(t, h, request{method: http.MethodPost, target: "/v1/admin/snapshot"})
	var got snapshotBody
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.Index != 42 || got.Term != 3 {
		t.Fatalf("POST /v1/admin/snapshot: %d %s", rec.Code, rec.Body)
	}
	node.snapErr = errors.New("disk full")
	rec = serve(t, h, request{method: http.MethodPost, target: "/v1/admin/snapshot"})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(errorMessage(t, rec), "disk full") {
		t.Fatalf("failed snapshot: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, h, request{method: http.MethodGet, target: "/v1/admin/snapshot"}); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/admin/snapshot: %d", rec.Code)
	}
}

func TestAdminBackup(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	node.index = 8
	file := []byte("snapshot-file-bytes")
	snaps := &fakeSnapshots{files: map[uint64][]byte{8: file}}
	h := newTestServer(t, Options{Snapshots: snaps}, node, store).Handler()
	rec := serve(t, h, request{method: http.MethodGet, target: "/v1/admin/backup"})
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), file) {
		t.Fatalf("backup: %d %q", rec.Code, rec.Body)
	}
	if rec.Header().Get("X-Raftkv-Snapshot-Index") != "8" || rec.Header().Get("Content-Length") != "19" {
		t.Fatalf("backup headers: %v", rec.Header())
	}
	// Without a snapshot store: a clear 501, not a 500.
	h = newTestServer(t, Options{}, node, store).Handler()
	if rec := serve(t, h, request{method: http.MethodGet, target: "/v1/admin/backup"}); rec.Code != http.StatusNotImplemented {
		t.Fatalf("backup without snapshots: %d %s", rec.Code, rec.Body)
	}
}

func TestAdminBackupForwardedToLeader(t *testing.T) {
	c := newCluster(t, nil, Options{})
	rec := serve(t, c.followerH, request{method: http.MethodGet, target: "/v1/admin/backup"})
	// The fake leader has no snapshot store: its 501 passes through.
	if rec.Code != http.StatusNotImplemented {
		t.Fatalf("forwarded backup: %d %s", rec.Code, rec.Body)
	}
	if got := c.seen.all(); len(got) != 1 || got[0].rawPath != "/v1/admin/backup" {
		t.Fatalf("leader saw %+v", got)
	}
}
