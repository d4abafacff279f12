package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/logs"
)

func backupCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Save a fresh snapshot of the cluster's state to FILE, and print its index, term and size",
		Long: "Ask the leader (through any node: followers forward) for a fresh snapshot of its state and\n" +
			"save it to FILE: written to FILE.tmp, synced, checked from end to end (length and checksum),\n" +
			"and only then renamed to FILE, so FILE is either a whole, verified snapshot or untouched.\n" +
			"A damaged or cut-short download is deleted. An existing FILE is overwritten only with\n" +
			"--force. --timeout bounds each wait (for the leader to write the snapshot, then for each\n" +
			"piece of the stream), not the whole transfer.",
		Args: cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			ctx, stop := a.interruptible(ctx)
			defer stop()
			return a.backup(ctx, c, args[0], force)
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite FILE if it exists")
	return cmd
}

// backup saves the cluster's snapshot to file (see backupCmd).
func (a *app) backup(ctx context.Context, c *client.Client, file string, force bool) error {
	if st, err := os.Stat(file); err == nil {
		if !st.Mode().IsRegular() {
			return usageErr(fmt.Errorf("backup: %s exists and is not a regular file", file))
		}
		if !force {
			return usageErr(fmt.Errorf("backup: %s exists; pass --force to overwrite it", file))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return &exitError{code: exitNotFound, err: fmt.Errorf("backup: %w", err)}
	}
	tmp := file + ".tmp"
	info, size, err := download(ctx, c, tmp)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	meta, err := logs.VerifySnapshotFile(tmp)
	if err == nil && info.Index != 0 && (info.Index != meta.Index || info.Term != meta.Term) {
		err = fmt.Errorf("the server announced index %d, term %d, the file holds index %d, term %d",
			info.Index, info.Term, meta.Index, meta.Term)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return &exitError{code: exitNotFound, err: fmt.Errorf(
			"backup: the snapshot from %s failed verification, %s not written: %w", hostPort(info.Endpoint), file, err)}
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return &exitError{code: exitNotFound, err: fmt.Errorf("backup: %w", err)}
	}
	// The rename is durable only once the directory is synced.
	if err := syncDir(filepath.Dir(file)); err != nil {
		return &exitError{code: exitNotFound, err: fmt.Errorf("backup: %s written, but %w", file, err)}
	}
	if a.json() {
		return writeJSON(a.stdout, jsonObject{{"file", file}, {"index", meta.Index}, {"term", meta.Term}, {"bytes", size}})
	}
	_, err = fmt.Fprintf(a.stdout, "%s: snapshot at index %d, term %d, %s (%d bytes)\n",
		file, meta.Index, meta.Term, humanBytes(size), size)
	return err
}

// download streams the backup into path and syncs it. Its errors carry
// their exit codes; the caller removes path on failure.
func download(ctx context.Context, c *client.Client, path string) (client.BackupInfo, int64, error) {
	// 0600: a backup holds every value, and values may be secrets.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return client.BackupInfo{}, 0, &exitError{code: exitNotFound, err: fmt.Errorf("backup: %w", err)}
	}
	defer f.Close() // after a successful Close below, a harmless second one
	w := bufio.NewWriterSize(f, 256<<10)
	info, err := c.Backup(ctx, w)
	if err != nil {
		if info.Endpoint == "" || errors.Is(err, context.Canceled) {
			// Nothing streamed (unavailable, refused, an error answer) or
			// Ctrl-C: the usual exit codes.
			return info, 0, classify(fmt.Errorf("backup: %w", err))
		}
		return info, 0, &exitError{code: exitNotFound, err: fmt.Errorf(
			"backup: the download from %s broke off, nothing written: %w", hostPort(info.Endpoint), err)}
	}
	if err := w.Flush(); err != nil {
		return info, 0, &exitError{code: exitNotFound, err: fmt.Errorf("backup: write %s: %w", path, err)}
	}
	if err := f.Sync(); err != nil {
		return info, 0, &exitError{code: exitNotFound, err: fmt.Errorf("backup: sync %s: %w", path, err)}
	}
	if err := f.Close(); err != nil {
		return info, 0, &exitError{code: exitNotFound, err: fmt.Errorf("backup: close %s: %w", path, err)}
	}
	return info, info.Bytes, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
