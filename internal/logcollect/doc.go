// Package logcollect copies a job's logs from its cluster's head into the
// log store, where they outlive the cluster: the driver's log, and the Ray
// logs of every node the cluster has while the job runs.
//
// The job runner calls Collector.Collect while a job runs (every minute or
// so: each call copies again the tail of every file it keeps, replacing the
// copy before it) and Collector.JobEnded once Ray reports it ended, before
// its cluster may be torn down. Both do the same; JobEnded only logs what
// failed, as the hook of the runner it is.
//
// What is kept, from each node that is alive when a collection runs:
// raylet.out/err; gcs_server.out/err (the head's); dashboard,
// dashboard_agent and dashboard_JobHead .log/.out/.err; monitor.log/out/err
// (the autoscaler's); runtime_env_agent.log; and of the job itself its
// runtime_env_setup-<rayJobId>.log and the .out and .err of its workers:
// worker-<workerId>-<jobId>-<pid>.out. Ray names a worker's files after the
// job it was started for, and the workers it keeps in a pool for any job
// after none (ffffffff), so a job's workers are those named after its Ray
// job id and those the state API says ran its tasks and actors. Of each file
// the last MaxLines lines are asked for and the last MaxBytes of them kept,
// cut at a line, and a file that was cut says so on its first line. A
// node's files are at most MaxFilesPerNode. The driver's log is read
// through the job API (GET /api/jobs/{id}/logs), else, when that fails (a
// log longer than the job API's answers may be), the tail of its node's
// job-driver-<id>.log.
//
// A head is not trusted to name files: node ids must be hex and file names
// plain names of a directory, and the keys they make are checked again by
// rayfleet.ValidLogKey, so nothing a head answers lands outside the job's
// log path.
//
// It imports the domain, internal/rayjob, internal/keylock and the
// standard library.
package logcollect
