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
-- JSON for the specs (asked for and running) and the observed instances.
-- name_lower serves the case-insensitive name filter and queues (",q1,q2,")
-- the queue filter. The foreign key keeps a workspace from being deleted
-- under its clusters.
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
-- The list: a page of a workspace newest first is a walk down this index.
-- The included columns let counts filtered by name or creator be index-only
-- scans (queues is left out: a cluster of many queues could outgrow an
-- index entry). Its (account_id, workspace_id) prefix serves every
-- per-workspace query and the foreign key check.
CREATE INDEX clusters_list ON clusters (account_id, workspace_id, deleted, create_time DESC, id DESC) INCLUDE (name_lower, creator);
-- The list filtered by state, the console's usual filter, in order.
CREATE INDEX clusters_state ON clusters (account_id, workspace_id, deleted, state, create_time DESC, id DESC);

-- How many clusters of a workspace are not deleted, by state: the total of a
-- list without filters or filtered by state alone, which would otherwise mean
-- counting up to every index entry of the workspace on each request, and the
-- metrics' counts. Triggers keep it in step with every write to clusters,
-- whoever makes it, in the writer's transaction.
CREATE TABLE cluster_counts (
	account_id   TEXT COLLATE "C" NOT NULL,
	workspace_id TEXT COLLATE "C" NOT NULL,
	state        TEXT COLLATE "C" NOT NULL,
	n            BIGINT NOT NULL,
	PRIMARY KEY (account_id, workspace_id, state)
);

-- SET search_path FROM CURRENT binds the names these functions use to the
-- schema they were created in, whatever the caller's search_path.
CREATE FUNCTION cluster_counts_add(a TEXT, w TEXT, s TEXT, delta BIGINT) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $$
	INSERT INTO cluster_counts AS c (account_id, workspace_id, state, n) VALUES (a, w, s, delta)
		ON CONFLICT (account_id, workspace_id, state) DO UPDATE SET n = c.n + delta
$$;

-- A change of state moves one count to another row. The two rows are always
-- locked in the order of their state, so writers moving counts in opposite
-- directions wait for each other instead of deadlocking.
CREATE FUNCTION clusters_count() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		PERFORM cluster_counts_add(NEW.account_id, NEW.workspace_id, NEW.state, 1);
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM cluster_counts_add(OLD.account_id, OLD.workspace_id, OLD.state, -1);
	ELSIF OLD.state <= NEW.state THEN
		IF OLD.deleted = 0 THEN
			PERFORM cluster_counts_add(OLD.account_id, OLD.workspace_id, OLD.state, -1);
		END IF;
		IF NEW.deleted = 0 THEN
			PERFORM cluster_counts_add(NEW.account_id, NEW.workspace_id, NEW.state, 1);
		END IF;
	ELSE
		IF NEW.deleted = 0 THEN
			PERFORM cluster_counts_add(NEW.account_id, NEW.workspace_id, NEW.state, 1);
		END IF;
		IF OLD.deleted = 0 THEN
			PERFORM cluster_counts_add(OLD.account_id, OLD.workspace_id, OLD.state, -1);
		END IF;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER clusters_count_insert AFTER INSERT ON clusters
	FOR EACH ROW WHEN (NEW.deleted = 0) EXECUTE FUNCTION clusters_count();
CREATE TRIGGER clusters_count_delete AFTER DELETE ON clusters
	FOR EACH ROW WHEN (OLD.deleted = 0) EXECUTE FUNCTION clusters_count();
CREATE TRIGGER clusters_count_update AFTER UPDATE OF deleted, state ON clusters
	FOR EACH ROW WHEN (OLD.deleted <> NEW.deleted OR OLD.state <> NEW.state) EXECUTE FUNCTION clusters_count();

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
