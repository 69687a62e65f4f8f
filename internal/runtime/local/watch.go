package local

import (
	"context"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// lostMessage is the message of a node whose process was gone when a new
// Runtime looked for it: its exit code is unknown.
const lostMessage = "lost: process gone after rayfleet restart"

// adopt loads the records left on disk. A process that still runs with its
// recorded start time is watched again; a record without a pid (rayfleet
// died while starting the node) is matched by the marker in the process's
// environment, or forgotten when no process carries it; anything else is
// recorded as lost and never signalled.
func (r *Runtime) adopt() error {
	now := r.cfg.Now()
	recs, err := r.files.load(now)
	if err != nil {
		return err
	}
	var procs []procEntry
	scanned := false
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		switch {
		case rec.Exited:
		case rec.PID == 0:
			if !scanned {
				procs, scanned = scanProcs(), true
			}
			p, ok := findByMarker(procs, rec)
			if !ok {
				// rayfleet died after writing the record and before (or
				// just after) starting the process: nothing of the node
				// runs, so it never started as far as anyone can tell.
				// Forget the record; Apply starts the node as new.
				if err := r.files.remove(rec); err != nil {
					return err
				}
				r.cfg.Logger.Info("local runtime: node was never started before a crash; it will be started", "node", rec.Node)
				continue
			}
			rec.PID, rec.PGID, rec.ProcStart, rec.BootID, rec.Started = p.pid, p.pgid, p.start, r.bootID, now
			r.cfg.Logger.Info("local runtime: adopted a node started before a crash", "node", rec.Node, "pid", p.pid)
			r.saveLocked(rec)
		default:
			switch state, ws := checkLeader(rec, r.bootID); state {
			case leaderRunning:
				r.cfg.Logger.Info("local runtime: adopted node", "node", rec.Node, "pid", rec.PID)
			case leaderReaped:
				code, reason, msg := exitOf(ws)
				rec.exited(code, reason, msg, now)
				r.saveLocked(rec)
			default:
				rec.exited(-1, "Lost", lostMessage, now)
				r.saveLocked(rec)
				r.cfg.Logger.Warn("local runtime: node lost", "node", rec.Node, "pid", rec.PID)
			}
		}
		r.clusterLocked(rec.Cluster).nodes[rec.key()] = rec
	}
	return nil
}

// watch polls the nodes' processes until Close. Polling rather than a
// goroutine per child blocked in Wait: adopted nodes are not our children
// and must be polled anyway, and a blocked Wait could not be stopped by
// Close. Children are reaped here (Wait4, after their start time is
// checked), so their exit codes are exact.
func (r *Runtime) watch() {
	defer close(r.done)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.poll()
			r.targets.update(r.scrapeTargets())
		}
	}
}

// poll records the nodes whose process ended, sends SIGKILL to stopping
// nodes past their grace period, and wakes the reconciler.
func (r *Runtime) poll() {
	type seen struct {
		rec   *record // the live record; only touched under r.mu
		state leaderState
		ws    syscall.WaitStatus
	}
	var (
		checks  []seen
		kills   []record
		orphans []record // exited on their own: what is left of them is ended
	)
	now := r.cfg.Now()
	r.mu.Lock()
	var live []record
	var ptrs []*record
	gcsWaits := map[reconcile.Ref]string{}
	for _, cs := range r.clusters {
		if cs.gcsWait != "" {
			gcsWaits[cs.gcsRef] = cs.gcsWait
		}
		for _, rec := range cs.nodes {
			if rec.running() {
				live = append(live, *rec)
				ptrs = append(ptrs, rec)
			}
		}
	}
	r.mu.Unlock()

	for i := range live {
		state, ws := checkLeader(&live[i], r.bootID)
		if state != leaderRunning {
			checks = append(checks, seen{ptrs[i], state, ws})
			continue
		}
		if live[i].StopReason != "" && !live[i].KillSent && now.Sub(live[i].StopTime) >= r.cfg.Grace {
			kills = append(kills, live[i])
		}
	}
	for i := range kills {
		r.cfg.Logger.Info("local runtime: grace period over, killing node", "node", kills[i].Node)
		signalNode(&kills[i], r.bootID, nil, syscall.SIGKILL)
	}

	wake := map[reconcile.Ref]bool{}
	r.mu.Lock()
	for _, k := range kills {
		if cs := r.clusters[k.Cluster]; cs != nil {
			if rec := cs.nodes[k.key()]; rec != nil && rec.PID == k.PID {
				rec.KillSent = true
				r.saveLocked(rec)
			}
		}
	}
	for _, s := range checks {
		rec := s.rec
		cs := r.clusters[rec.Cluster]
		if cs == nil || cs.nodes[rec.key()] != rec || !rec.running() {
			continue // removed or restarted meanwhile
		}
		code, reason, msg := -1, "Lost", "exited while rayfleet was not its parent; exit code unknown"
		if s.state == leaderReaped {
			code, reason, msg = exitOf(s.ws)
		}
		rec.exited(code, reason, msg, now)
		if rec.StopReason == "" {
			orphans = append(orphans, *rec)
		}
		wake[rec.ref()] = true
		r.cfg.Logger.Info("local runtime: node exited", "node", rec.Node, "code", code, "reason", reason)
		r.saveLocked(rec)
	}
	waker := r.cfg.Waker
	r.mu.Unlock()
	for ref, gcs := range gcsWaits {
		if dialable(context.Background(), gcs) {
			wake[ref] = true
			r.mu.Lock()
			if cs := r.clusters[ref.ID]; cs != nil && cs.gcsWait == gcs {
				cs.gcsWait = "" // once per wait: the woken Apply starts the workers
			}
			r.mu.Unlock()
		}
	}

	// A node whose `ray start` died on its own leaves Ray's processes
	// behind (its agents, a raylet still draining): nothing will stop them
	// but rayfleet, and a restarted worker would meet them on its ports.
	if len(orphans) > 0 {
		procs := scanProcs()
		for i := range orphans {
			for _, pid := range members(procs, &orphans[i], r.bootID) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}

	if waker != nil {
		for ref := range wake {
			waker.Wake(ref)
		}
	}
}
