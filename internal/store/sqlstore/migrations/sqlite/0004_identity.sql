-- RAM identity: users gain comments, an update time and names unique within
-- their account; custom policies with their versions; policies attached to
-- users. System policies are built in and not stored: an attachment names
-- them by type and name.

ALTER TABLE users ADD COLUMN comments TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN update_time INTEGER NOT NULL DEFAULT 0;
UPDATE users SET update_time = create_time;
CREATE UNIQUE INDEX users_name ON users (account_id, name);

-- next_version numbers the versions, so a removed version's id is never
-- reused.
CREATE TABLE policies (
	account_id      TEXT    NOT NULL,
	name            TEXT    NOT NULL,
	description     TEXT    NOT NULL,
	default_version TEXT    NOT NULL,
	next_version    INTEGER NOT NULL,
	create_time     INTEGER NOT NULL,
	update_time     INTEGER NOT NULL,
	PRIMARY KEY (account_id, name)
) STRICT;

CREATE TABLE policy_versions (
	account_id  TEXT    NOT NULL,
	policy_name TEXT    NOT NULL,
	version_id  TEXT    NOT NULL,
	version_no  INTEGER NOT NULL,
	document    TEXT    NOT NULL,
	create_time INTEGER NOT NULL,
	PRIMARY KEY (account_id, policy_name, version_id),
	FOREIGN KEY (account_id, policy_name) REFERENCES policies (account_id, name) ON DELETE CASCADE
) STRICT;

CREATE TABLE user_policies (
	account_id  TEXT    NOT NULL,
	user_uid    TEXT    NOT NULL,
	policy_type TEXT    NOT NULL,
	policy_name TEXT    NOT NULL,
	attach_time INTEGER NOT NULL,
	PRIMARY KEY (account_id, user_uid, policy_type, policy_name)
) STRICT;
CREATE INDEX user_policies_policy ON user_policies (account_id, policy_type, policy_name);
