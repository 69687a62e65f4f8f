// Package reconcile drives every cluster toward what its owner asked for:
// a keyed work queue (one worker per cluster at a time, bounded concurrency
// across clusters) fed by API writes, runtime events and a periodic resync;
// a pure plan(desired, observed, now) that decides; and a Reconcile that
// executes the plan through the Runtime interface declared here and writes
// the status only when it changed. It imports the domain and internal/store;
// it knows no runtime.
package reconcile
