-- Data-plane credentials: the SQLite schema with its types. The gateway
-- finds a token by its hash (the primary key); the API finds a caller's
-- tokens for the clusters it lists by the owner index; the janitor removes
-- expired ones by the expiry index.
CREATE TABLE data_plane_tokens (
	token_hash     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	token_sealed   BYTEA   NOT NULL,
	account_id     TEXT COLLATE "C" NOT NULL,
	user_uid       TEXT COLLATE "C" NOT NULL,
	access_key_id  TEXT COLLATE "C" NOT NULL,
	parent_key_id  TEXT    NOT NULL,
	session_policy TEXT    NOT NULL,
	workspace_id   TEXT COLLATE "C" NOT NULL,
	cluster_id     TEXT COLLATE "C" NOT NULL,
	instance_id    TEXT    NOT NULL,
	create_time    BIGINT  NOT NULL,
	expire_time    BIGINT  NOT NULL
);
CREATE INDEX data_plane_tokens_owner ON data_plane_tokens (account_id, user_uid, access_key_id, workspace_id, cluster_id, expire_time);
CREATE INDEX data_plane_tokens_expiry ON data_plane_tokens (expire_time);

-- The gateway no longer finds a cluster by its instance token: users hold
-- data-plane tokens, and the instance token stays inside rayfleet.
DROP INDEX clusters_token;
