package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

type restoreOptions struct {
	from       string
	configPath string
	nodeID     int
	dataDir    string
}

func newRestoreCmd(stdout io.Writer) *cobra.Command {
	var opts restoreOptions
	cmd := &cobra.Command{
		Use:   "restore --from FILE --node-id N [--config config.json]",
		Short: "Seed a node of a new cluster from a backup (kvcli backup FILE)",
		Long: `Seed a node of a new cluster from a backup file. Run it for every node of the new cluster,
then start the nodes: they begin from the backup's state. The node's data directory must be
empty; the backup is verified (checksum, length) before anything is written.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unexpected argument %q", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return restore(opts, stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.from, "from", "", "backup file to restore (required)")
	f.StringVar(&opts.configPath, "config", "config.json", "path of the cluster config")
	f.IntVar(&opts.nodeID, "node-id", -1, "id of the node to seed (also --node_id)")
	f.StringVar(&opts.dataDir, "data-dir", "", "override the config's data_dir")
	f.SetNormalizeFunc(underscoreToDash)
	return cmd
}

func restore(opts restoreOptions, stdout io.Writer) error {
	if opts.from == "" || opts.nodeID < 0 {
		return usageError{errors.New("restore needs --from FILE and --node-id N")}
	}
	cfg, err := config.Load(opts.configPath)
	if err != nil {
		return usageError{err}
	}
	if opts.dataDir != "" {
		cfg.DataDir = opts.dataDir
	}
	id := uint64(opts.nodeID)
	if _, err := cfg.Node(id); err != nil {
		return usageError{fmt.Errorf("%s: %w", opts.configPath, err)}
	}
	meta, err := logs.VerifySnapshotFile(opts.from)
	if err != nil {
		return fmt.Errorf("backup %s refused: %w", opts.from, err)
	}
	dir := cfg.NodeDir(id)
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("node %d already has data in %s; restore seeds a new cluster: move that directory away first", id, dir)
	}
	if err := seedNode(cfg, id, opts.from, meta); err != nil {
		return fmt.Errorf("restore node %d: %w", id, err)
	}
	var ids []uint64
	for _, n := range cfg.Nodes {
		ids = append(ids, n.ID)
	}
	if !slices.Equal(ids, meta.Peers) {
		fmt.Fprintf(stdout, "note: the backup was taken in a cluster of nodes %v; this config has %v\n", meta.Peers, ids)
	}
	fmt.Fprintf(stdout, "node %d seeded from %s: snapshot index %d, term %d, in %s\n", id, opts.from, meta.Index, meta.Term, dir)
	return nil
}

// seedNode writes a node's initial state from a verified backup: the
// snapshot file, the state machine restored from it, the trail's first
// line, and a hard state in the snapshot's term (so that the first leader's
// term is above every term in the snapshot).
func seedNode(cfg *config.Config, id uint64, from string, meta logs.SnapshotMeta) error {
	quiet := slog.New(slog.DiscardHandler)
	snaps, err := logs.OpenSnapshotStore(cfg.SnapshotDir(id))
	if err != nil {
		return err
	}
	if err := copyWithMembership(cfg, from, snaps); err != nil {
		return err
	}
	store, err := kv.Open(kv.Options{Dir: filepath.Join(cfg.NodeDir(id), "kv"), Logger: quiet, GCInterval: -1,
		MemTableBytes: cfg.Badger.MemTableBytes, BlockCacheBytes: cfg.Badger.BlockCacheBytes, IndexCacheBytes: cfg.Badger.IndexCacheBytes})
	if err != nil {
		return err
	}
	_, body, err := snaps.Open(meta.Index)
	if err == nil {
		err = store.Restore(body, meta.Index, meta.Term)
		body.Close()
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	wal, err := logs.Open(filepath.Join(cfg.NodeDir(id), "raft"), logs.Options{Logger: quiet})
	if err != nil {
		return err
	}
	err = wal.Save(&wire.HardState{Term: meta.Term, Vote: wire.None}, nil)
	if cerr := wal.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	trail, err := logs.OpenTrail(cfg.TrailPath(id))
	if err != nil {
		return err
	}
	err = trail.Append([]logs.TrailLine{{Index: meta.Index, Term: meta.Term, Command: "SNAPSHOT"}})
	if cerr := trail.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyWithMembership copies the backup into snaps with config.json's nodes
// as the membership: the backup's header names the cluster it was taken
// in, and a restored node that believed it would try to reach those nodes
// instead of its own cluster's.
func copyWithMembership(cfg *config.Config, from string, snaps *logs.SnapshotStore) (err error) {
	tmpDir, err := os.MkdirTemp(filepath.Dir(snaps.Dir()), ".restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	tmp, err := logs.OpenSnapshotStore(tmpDir)
	if err != nil {
		return err
	}
	meta, err := logs.CopySnapshotFile(from, tmp)
	if err != nil {
		return err
	}
	_, body, err := tmp.Open(meta.Index)
	if err != nil {
		return err
	}
	defer body.Close()
	boot := bootstrapMembership(cfg)
	meta.Peers = boot.Voters()
	meta.Conf = core.EncodeMembership(boot)
	w, err := snaps.Create(meta)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, body); err != nil {
		_ = w.Abort()
		return fmt.Errorf("copy snapshot body: %w", err)
	}
	return w.Commit()
}
