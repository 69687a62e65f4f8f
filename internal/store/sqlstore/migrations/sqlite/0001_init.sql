-- The first schema of rayfleet on SQLite. Times are Unix milliseconds (0 for
-- "never"), flags are 0/1, ids are TEXT. STRICT makes SQLite refuse a value of
-- the wrong type instead of storing it.

CREATE TABLE accounts (
	id          TEXT    NOT NULL PRIMARY KEY,
	name        TEXT    NOT NULL,
	create_time INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
	uid         TEXT    NOT NULL PRIMARY KEY,
	account_id  TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	nickname    TEXT    NOT NULL,
	root        INTEGER NOT NULL,
	create_time INTEGER NOT NULL
) STRICT;
CREATE INDEX users_account ON users (account_id);

-- Access keys are found by id alone: that is how a request's account is found.
CREATE TABLE access_keys (
	id            TEXT    NOT NULL PRIMARY KEY,
	account_id    TEXT    NOT NULL,
	user_uid      TEXT    NOT NULL,
	secret_sealed BLOB,
	status        TEXT    NOT NULL,
	create_time   INTEGER NOT NULL
) STRICT;
CREATE INDEX access_keys_user ON access_keys (account_id, user_uid);

-- Ids are unique across accounts; (account_id, id) is unique too so that the
-- children of a workspace can reference it together with their account.
CREATE TABLE workspaces (
	id           TEXT    NOT NULL PRIMARY KEY,
	account_id   TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	name_lower   TEXT    NOT NULL,
	cu           INTEGER NOT NULL,
	status       TEXT    NOT NULL,
	oss_bucket   TEXT    NOT NULL,
	payment_type TEXT    NOT NULL,
	release_type TEXT    NOT NULL,
	create_time  INTEGER NOT NULL,
	creator      TEXT    NOT NULL,
	UNIQUE (account_id, id)
) STRICT;
CREATE INDEX workspaces_list ON workspaces (account_id, create_time DESC, id DESC);

CREATE TABLE queues (
	account_id   TEXT    NOT NULL,
	workspace_id TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	max_cu       INTEGER NOT NULL,
	category     TEXT    NOT NULL,
	description  TEXT    NOT NULL,
	create_time  INTEGER NOT NULL,
	creator      TEXT    NOT NULL,
	PRIMARY KEY (account_id, workspace_id, name),
	FOREIGN KEY (account_id, workspace_id) REFERENCES workspaces (account_id, id)
) STRICT;

CREATE TABLE network_services (
	account_id        TEXT    NOT NULL,
	workspace_id      TEXT    NOT NULL,
	name              TEXT    NOT NULL,
	id                TEXT    NOT NULL,
	vpc_id            TEXT    NOT NULL,
	vswitch_ids       TEXT    NOT NULL, -- JSON array
	security_group_id TEXT    NOT NULL,
	type              TEXT    NOT NULL,
	state             TEXT    NOT NULL,
	create_time       INTEGER NOT NULL,
	PRIMARY KEY (account_id, workspace_id, name),
	FOREIGN KEY (account_id, workspace_id) REFERENCES workspaces (account_id, id)
) STRICT;

-- A cluster row: columns for its keys and for what lists filter and sort on,
-- JSON for the specs (asked for and running) and the observed instances.
-- name_lower serves the case-insensitive name filter and queues (",q1,q2,")
-- the queue filter. The foreign key keeps a workspace from being deleted
-- under its clusters.
CREATE TABLE clusters (
	id            TEXT    NOT NULL PRIMARY KEY,
	account_id    TEXT    NOT NULL,
	workspace_id  TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	name_lower    TEXT    NOT NULL,
	queues        TEXT    NOT NULL,
	spec          TEXT    NOT NULL,
	running_spec  TEXT    NOT NULL,
	desired       TEXT    NOT NULL,
	deleted       INTEGER NOT NULL,
	state         TEXT    NOT NULL,
	message       TEXT    NOT NULL,
	instances     TEXT    NOT NULL,
	instance_id   TEXT    NOT NULL,
	token_hash    TEXT    NOT NULL,
	token_sealed  BLOB,
	modified      INTEGER NOT NULL,
	create_time   INTEGER NOT NULL,
	start_time    INTEGER NOT NULL,
	modified_time INTEGER NOT NULL,
	state_time    INTEGER NOT NULL,
	creator       TEXT    NOT NULL,
	creator_name  TEXT    NOT NULL,
	modifier      TEXT    NOT NULL,
	modifier_name TEXT    NOT NULL,
	version       INTEGER NOT NULL,
	FOREIGN KEY (account_id, workspace_id) REFERENCES workspaces (account_id, id)
) STRICT;
-- The list: a page of a workspace newest first is a walk down this index.
-- The columns after id let the name, creator and queue filters, and their
-- counts, be decided from the index, reading a row only when it matches.
-- Its (account_id, workspace_id) prefix serves every per-workspace query and
-- the foreign key check.
CREATE INDEX clusters_list ON clusters (account_id, workspace_id, deleted, create_time DESC, id DESC, name_lower, creator, queues);
-- The list filtered by state, the console's usual filter, in order.
CREATE INDEX clusters_state ON clusters (account_id, workspace_id, deleted, state, create_time DESC, id DESC);

-- How many clusters of a workspace are not deleted, by state: the total of a
-- list without filters or filtered by state alone, which would otherwise mean
-- counting up to every index entry of the workspace on each request, and the
-- metrics' counts. Triggers keep it in step with every write to clusters,
-- whoever makes it, in the writer's transaction.
CREATE TABLE cluster_counts (
	account_id   TEXT    NOT NULL,
	workspace_id TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	n            INTEGER NOT NULL,
	PRIMARY KEY (account_id, workspace_id, state)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER clusters_count_insert AFTER INSERT ON clusters WHEN NEW.deleted = 0
BEGIN
	INSERT INTO cluster_counts (account_id, workspace_id, state, n) VALUES (NEW.account_id, NEW.workspace_id, NEW.state, 1)
		ON CONFLICT (account_id, workspace_id, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER clusters_count_delete AFTER DELETE ON clusters WHEN OLD.deleted = 0
BEGIN
	UPDATE cluster_counts SET n = n - 1
		WHERE account_id = OLD.account_id AND workspace_id = OLD.workspace_id AND state = OLD.state;
END;

CREATE TRIGGER clusters_count_update AFTER UPDATE OF deleted, state ON clusters
	WHEN OLD.deleted <> NEW.deleted OR OLD.state <> NEW.state
BEGIN
	UPDATE cluster_counts SET n = n - 1
		WHERE OLD.deleted = 0 AND account_id = OLD.account_id AND workspace_id = OLD.workspace_id AND state = OLD.state;
	INSERT INTO cluster_counts (account_id, workspace_id, state, n) SELECT NEW.account_id, NEW.workspace_id, NEW.state, 1
		WHERE NEW.deleted = 0
		ON CONFLICT (account_id, workspace_id, state) DO UPDATE SET n = n + 1;
END;

CREATE TABLE idempotency (
	account_id  TEXT    NOT NULL,
	token       TEXT    NOT NULL,
	operation   TEXT    NOT NULL,
	params_hash TEXT    NOT NULL,
	response    BLOB,
	create_time INTEGER NOT NULL,
	PRIMARY KEY (account_id, token)
) STRICT;
CREATE INDEX idempotency_expiry ON idempotency (create_time);
