-- Ray jobs. seq is the order jobs were created in, which the reconciler
-- hands out a cluster's job slots by; id is the Ray submission id rayfleet
-- chose. Columns hold what lists filter and sort on and what the reconciler
-- writes; the submitted spec is JSON. final is 1 once the status is one that
-- never changes again. The foreign key keeps a workspace from being deleted
-- under its jobs unless they go with it (DeleteWorkspace removes them).
CREATE TABLE jobs (
	seq           INTEGER NOT NULL PRIMARY KEY,
	id            TEXT    NOT NULL UNIQUE,
	account_id    TEXT    NOT NULL,
	workspace_id  TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	task_biz_id   TEXT    NOT NULL,
	cluster_id    TEXT    NOT NULL,
	instance_id   TEXT    NOT NULL,
	status        TEXT    NOT NULL,
	final         INTEGER NOT NULL,
	cluster_state TEXT    NOT NULL,
	message       TEXT    NOT NULL,
	stop          TEXT    NOT NULL,
	spec          TEXT    NOT NULL,
	log_bucket    TEXT    NOT NULL,
	log_path      TEXT    NOT NULL,
	submit_time   INTEGER NOT NULL,
	start_time    INTEGER NOT NULL,
	end_time      INTEGER NOT NULL,
	creator       TEXT    NOT NULL,
	creator_name  TEXT    NOT NULL,
	version       INTEGER NOT NULL,
	FOREIGN KEY (account_id, workspace_id) REFERENCES workspaces (account_id, id)
) STRICT;
-- ListRayJob: a page of a workspace newest first is a walk down one of these,
-- and a submitTime range a range of it; by name or by task, the walk starts
-- at that name or task. The list index's prefix serves the foreign key check
-- and DeleteWorkspace.
CREATE INDEX jobs_list ON jobs (account_id, workspace_id, submit_time DESC, id DESC);
CREATE INDEX jobs_name ON jobs (account_id, workspace_id, name, submit_time DESC, id DESC);
CREATE INDEX jobs_task ON jobs (account_id, workspace_id, task_biz_id, submit_time DESC, id DESC);
-- The reconciler's queue of a cluster: only the jobs not yet final, a few
-- among the many that ended.
CREATE INDEX jobs_unfinished ON jobs (account_id, workspace_id, cluster_id, seq) WHERE final = 0;

-- How many jobs a workspace has: the total of a list without filters, which
-- would otherwise count every index entry of the workspace on each request.
-- Triggers keep it in the writer's transaction.
CREATE TABLE job_counts (
	account_id   TEXT    NOT NULL,
	workspace_id TEXT    NOT NULL,
	n            INTEGER NOT NULL,
	PRIMARY KEY (account_id, workspace_id)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
BEGIN
	INSERT INTO job_counts (account_id, workspace_id, n) VALUES (NEW.account_id, NEW.workspace_id, 1)
		ON CONFLICT (account_id, workspace_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
BEGIN
	UPDATE job_counts SET n = n - 1 WHERE account_id = OLD.account_id AND workspace_id = OLD.workspace_id;
END;
