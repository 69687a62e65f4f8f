// Package rayjob is a client of a Ray head's job REST API, the API the
// head's dashboard serves (Ray 2.60, python/ray/dashboard/modules/job/
// job_head.py):
//
//	POST /api/jobs/                 submit (submission_id, entrypoint, runtime_env, metadata,
//	                                entrypoint_num_cpus/num_gpus/memory/resources)
//	GET  /api/jobs/{id}             one job (404 when unknown)
//	GET  /api/jobs/                 every job
//	POST /api/jobs/{id}/stop        stop
//	GET  /api/jobs/{id}/logs        the driver's log
//	GET  /api/packages/{protocol}/{name}, PUT the same   a runtime_env package
//	GET  /api/version
//
// and of its state API, the nodes and the files of their log directories
// (state.go), which rayfleet reads to keep a job's logs after its cluster
// is gone.
//
// Submission is idempotent on the submission id, which rayfleet chooses
// (the job's id): Ray refuses a second job with an id it knows (400, from
// the job manager's put_info with overwrite=False), and Submit answers a
// refused or unanswered submit by asking for the job, so a retry after a
// crash finds the job instead of starting it twice.
//
// A local working directory is sent as `ray job submit --working-dir` sends
// it (python/ray/_private/runtime_env/packaging.py and working_dir.py, and
// dashboard_sdk.py's upload): named by a hash of its files, zipped, and put
// at /api/packages/gcs/_ray_pkg_<hash>.zip unless the head has it; the job's
// runtime_env then names that gcs:// URI. The name follows Ray's rule
// exactly (see DirectoryURI), so a directory uploaded by Ray's own CLI and
// by rayfleet is one package on the head.
//
// With token authentication on (RAY_AUTH_MODE=token), the head wants
// "Authorization: Bearer <token>" on every request; Client.Token sends it.
//
// It imports the domain and the standard library only.
package rayjob
