// Package local is the Runtime that runs Ray on the machine rayfleet runs
// on: every node of a cluster is one `ray start --block` process in its own
// process group, started with the ports, CPU, memory and GPU count of its
// spec, its stdout and stderr in a log file under DataDir/local/.
//
// Each node has a JSON state file, written before the process starts and
// updated as it runs and ends, so that a rayfleet killed at any moment can
// find its nodes again: a new Runtime adopts the processes that still run
// (matched by pid and /proc start time, never by pid alone) and records the
// others as lost. Nodes outlive rayfleet on purpose (a server restart or
// upgrade must not stop anybody's cluster); run rayfleet under a service
// manager that leaves its children alone (systemd: KillMode=process).
//
// The command lines follow `ray start` as of Ray 2.47 to 2.55
// (python/ray/scripts/scripts.py): every port Ray would otherwise take from
// a fixed default (6379, 8265, 10001, 52365, 10002-19999) is allocated per
// node so that clusters never collide. --temp-dir is honoured on worker
// nodes from Ray 2.51 on; older versions warn and use the head's. There is
// one `ray` executable, so a node's release version does not matter here:
// the clusters run whatever Ray is installed.
//
// Real Ray could not be installed where this package was written and
// tested: the tests drive fakeray/, a stand-in that takes the same flags and
// opens the same ports.
//
// For a Prometheus server it keeps DataDir/local/prometheus/targets.json, a
// file_sd list of every running node's metrics port, and tells heads where
// that server is (Config.PrometheusURL, prometheus.go).
//
// It imports the domain (rayfleet) and internal/reconcile, whose Runtime
// interface it implements, and the standard library.
package local
