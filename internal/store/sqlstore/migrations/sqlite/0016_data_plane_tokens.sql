-- Data-plane credentials: the tokens GetRayCluster and ListRayCluster hand
-- out for a cluster's dashboard, job API and Ray client endpoint, one per
-- user, access key and cluster instance, each until it expires. The gateway
-- finds a token by its hash (the primary key); the API finds a caller's
-- tokens for the clusters it lists by the owner index; the janitor removes
-- expired ones by the expiry index. token_sealed is the token under the
-- master key, so the API can show the same one again.
CREATE TABLE data_plane_tokens (
	token_hash     TEXT    NOT NULL PRIMARY KEY,
	token_sealed   BLOB    NOT NULL,
	account_id     TEXT    NOT NULL,
	user_uid       TEXT    NOT NULL,
	access_key_id  TEXT    NOT NULL,
	parent_key_id  TEXT    NOT NULL,
	session_policy TEXT    NOT NULL,
	workspace_id   TEXT    NOT NULL,
	cluster_id     TEXT    NOT NULL,
	instance_id    TEXT    NOT NULL,
	create_time    INTEGER NOT NULL,
	expire_time    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX data_plane_tokens_owner ON data_plane_tokens (account_id, user_uid, access_key_id, workspace_id, cluster_id, expire_time);
CREATE INDEX data_plane_tokens_expiry ON data_plane_tokens (expire_time);

-- The gateway no longer finds a cluster by its instance token: users hold
-- data-plane tokens, and the instance token stays inside rayfleet.
DROP INDEX clusters_token;
