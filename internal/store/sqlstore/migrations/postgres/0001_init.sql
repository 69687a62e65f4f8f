-- The first schema of rayfleet on PostgreSQL: the SQLite schema with its
-- types. Times are Unix milliseconds (0 for "never"), flags are 0/1. Keys
-- use the "C" collation so ids sort by bytes, as on SQLite, whatever the
-- database's locale.

CREATE TABLE accounts (
	id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	name        TEXT   NOT NULL,
	create_time BIGINT NOT NULL
);

CREATE TABLE users (
	uid         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	account_id  TEXT COLLATE "C" NOT NULL,
	name        TEXT    NOT NULL,
	nickname    TEXT    NOT NULL,
	root        INTEGER NOT NULL,
	create_time BIGINT  NOT NULL
);
CREATE INDEX users_account ON users (account_id);

-- Access keys are found by id alone: that is how a request's account is found.
CREATE TABLE access_keys (
	id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	account_id    TEXT COLLATE "C" NOT NULL,
	user_uid      TEXT COLLATE "C" NOT NULL,
	secret_sealed BYTEA,
	status        TEXT   NOT NULL,
	create_time   BIGINT NOT NULL
);
CREATE INDEX access_keys_user ON access_keys (account_id, user_uid);

-- Ids are unique across accounts; (account_id, id) is unique too so that the
-- children of a workspace can reference it together with their account.
CREATE TABLE workspaces (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	account_id   TEXT COLLATE "C" NOT NULL,
	name         TEXT   NOT NULL,
	name_lower   TEXT   NOT NULL,
	cu           BIGINT NOT NULL,
	status       TEXT   NOT NULL,
	oss_bucket   TEXT   NOT NULL,
	payment_type TEXT   NOT NULL,
	release_type TEXT   NOT NULL,
	create_time  BIGINT NOT NULL,
	creator      TEXT   NOT NULL,
	UNIQUE (account_id, id)
);
CREATE INDEX workspaces_list ON workspaces (account_id, create_time DESC, id DESC);

CREATE TABLE queues (
	account_id   TEXT COLLATE "C" NOT NULL,
	workspace_id TEXT COLLATE "C" NOT NULL,
	name         TEXT COLLATE "C" NOT NULL,
	max_cu       BIGINT NOT NULL,
	category     TEXT   NOT NULL,
	description  TEXT   NOT NULL,
	create_time  BIGINT NOT NULL,
	creator      TEXT   NOT NULL,
	PRIMARY KEY (account_id, workspace_id, name),
	FOREIGN KEY (account_id, workspace_id) REFERENCES workspaces (account_id, id)
);

CREATE TABLE network_services (
	account_id        TEXT COLLATE "C" NOT NULL,
	workspace_id      TEXT COLLATE "C" NOT NULL,
	name              TEXT COLLATE "C" NOT NULL,
	id                TEXT   NOT NULL,
	vpc_id            TEXT   NOT NULL,
	vswitch_ids       TEXT   NOT NULL, -- JSON array
	security_group_id TEXT   NOT NULL,
	type              TEXT   NOT NULL,
	state             TEXT   NOT NULL,
	create_time       BIGINT NOT NULL,
	PRIMARY KEY (account_id, workspace_id, name),
	FOREIGN KEY (account_id, workspace_id) REFERENCES workspaces (account_id, id)
);

-- A cluster row: columns for its keys and for what lists filter and sort on,
-- JSON for the specs (asked for and running) and the observed instances. name_lower serves the
-- case-insensitive name filter and queues (",q1,q2,") the queue filter.
-- The foreign key keeps a workspace from being deleted under its clusters.
CREATE TABLE clusters (
	id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	account_id    TEXT COLLATE "C" NOT NULL,
	workspace_id  TEXT COLLATE "C" NOT NULL,
	name          TEXT    NOT NULL,
	name_lower    TEXT    NOT NULL,
	queues        TEXT    NOT NULL,
	spec          TEXT    NOT NULL,
	running_spec  TEXT    NOT NULL,
	desired       TEXT    NOT NULL,
	deleted       INTEGER NOT NULL,
	state         TEXT COLLATE "C" NOT NULL,
	message       TEXT    NOT NULL,
	instances     TEXT    NOT NULL,
	instance_id   TEXT    NOT NULL,
	token_hash    TEXT    NOT NULL,
	token_sealed  BYTEA,
	modified      INTEGER NOT NULL,
	create_time   BIGINT  NOT NULL,
	start_time    BIGINT  NOT NULL,
	modified_time BIGINT  NOT NULL,
	state_time    BIGINT  NOT NULL,
	creator       TEXT    NOT NULL,
	creator_name  TEXT    NOT NULL,
	modifier      TEXT    NOT NULL,
	modifier_name TEXT    NOT NULL,
	version       BIGINT  NOT NULL,
	FOREIGN KEY (account_id, workspace_id) REFERENCES workspaces (account_id, id)
);
-- The list: a page of a workspace newest first, and its count, from the index
-- alone. Its (account_id, workspace_id) prefix serves every per-workspace
-- query and the foreign key check.
CREATE INDEX clusters_list ON clusters (account_id, workspace_id, deleted, create_time DESC, id DESC);
-- The list filtered by state, the console's usual filter.
CREATE INDEX clusters_state ON clusters (account_id, workspace_id, deleted, state, create_time DESC, id DESC);

CREATE TABLE idempotency (
	account_id  TEXT COLLATE "C" NOT NULL,
	token       TEXT COLLATE "C" NOT NULL,
	operation   TEXT   NOT NULL,
	params_hash TEXT   NOT NULL,
	response    BYTEA,
	create_time BIGINT NOT NULL,
	PRIMARY KEY (account_id, token)
);
CREATE INDEX idempotency_expiry ON idempotency (create_time);
