// Package reconcile drives every cluster toward what its owner asked for:
// a keyed work queue (one worker per cluster at a time, bounded concurrency
// across clusters) fed by API writes, runtime events and a periodic resync;
// a pure plan(desired, observed, now) that decides; and a Reconcile that
// executes the plan through the Runtime interface declared here and writes
// the status only when it changed.
//
// The JobRunner does the same for Ray jobs, one cluster's jobs at a time: a
// pure planJobs over what a pass reads, thin effects through the store, the
// heads' job APIs (internal/rayjob, at the address the runtime's Heads
// gives) and the service's JobClusters. It imports the domain,
// internal/store and internal/rayjob; it knows no runtime.
package reconcile
