package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rayfleet/rayfleet"
)

// Suspend ends every node of c, of any instance: SIGTERM to each process
// group now, SIGKILL from the watcher once Grace has passed. It returns
// without waiting. Called again once every process of c is gone, it
// removes c's state records (the logs stay), and Observe then reports
// Exists=false.
func (r *Runtime) Suspend(ctx context.Context, c *rayfleet.Cluster) error {
	return r.end(c, false)
}

// Delete is Suspend that also removes c's directory, logs included, and the
// nodes' Ray temp directories once every process of c is gone.
func (r *Runtime) Delete(ctx context.Context, c *rayfleet.Cluster) error {
	return r.end(c, true)
}

func (r *Runtime) end(c *rayfleet.Cluster, purge bool) error {
	if err := checkIDs(c, false); err != nil {
		return err
	}
	cs := r.cluster(c.ID)
	if cs == nil {
		return errClosed
	}
	cs.op.Lock()
	defer cs.op.Unlock()

	now := r.cfg.Now()
	running := false
	var exited []record
	var tempDirs []string
	r.mu.Lock()
	cs.gcsWait = ""
	for _, rec := range cs.nodes {
		tempDirs = append(tempDirs, rec.TempDir)
		if rec.StopReason != stopSuspend {
			// A scale-down already under way keeps its StopTime, so its
			// grace period does not start over.
			if rec.StopTime.IsZero() {
				rec.StopTime = now
			}
			rec.StopReason = stopSuspend
			r.saveLocked(rec)
			if rec.running() {
				signalNode(rec, r.bootID, nil, syscall.SIGTERM)
				r.cfg.Logger.Info("local runtime: stopping node", "node", rec.Node)
			}
		}
		if rec.running() {
			running = true
		} else {
			exited = append(exited, *rec)
		}
	}
	r.mu.Unlock()
	if running {
		return nil // the watcher sees them end; the next Suspend cleans up
	}
	// Every leader is gone; Ray processes that outlived theirs are ended too.
	if len(exited) > 0 {
		procs := scanProcs()
		gone := true
		for i := range exited {
			gone = r.groupGone(&exited[i], procs, now) && gone
		}
		if !gone {
			return nil
		}
	}

	r.mu.Lock()
	var errs []error
	for key, rec := range cs.nodes {
		if err := r.files.remove(rec); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(cs.nodes, key)
	}
	cs.rayProblem, cs.specFailure, cs.failureInstance = "", "", ""
	if purge && len(errs) == 0 {
		delete(r.clusters, c.ID)
	}
	r.mu.Unlock()
	if len(errs) > 0 || !purge {
		return errors.Join(errs...)
	}
	return r.purge(c.ID, tempDirs)
}

// purge removes the cluster's directory and the Ray temp directories its
// nodes had, found from the records still in memory and from the links
// next to the logs (records of earlier instances are gone by now).
func (r *Runtime) purge(cluster string, tempDirs []string) error {
	dir := r.files.clusterDir(cluster)
	links, _ := filepath.Glob(filepath.Join(dir, "*", "*.tmp"))
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil {
			tempDirs = append(tempDirs, target)
		}
	}
	var errs []error
	for _, d := range tempDirs {
		if err := removeTempDir(r.cfg.TempRoot, d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("local runtime: remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}
