-- RAM identity: users gain comments, an update time and names unique within
-- their account; custom policies with their versions; policies attached to
-- users. System policies are built in and not stored: an attachment names
-- them by type and name.

ALTER TABLE users ADD COLUMN comments TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN update_time BIGINT NOT NULL DEFAULT 0;
UPDATE users SET update_time = create_time;
CREATE UNIQUE INDEX users_name ON users (account_id, name);

-- next_version numbers the versions, so a removed version's id is never
-- reused.
CREATE TABLE policies (
	account_id      TEXT COLLATE "C" NOT NULL,
	name            TEXT COLLATE "C" NOT NULL,
	description     TEXT   NOT NULL,
	default_version TEXT   NOT NULL,
	next_version    BIGINT NOT NULL,
	create_time     BIGINT NOT NULL,
	update_time     BIGINT NOT NULL,
	PRIMARY KEY (account_id, name)
);

CREATE TABLE policy_versions (
	account_id  TEXT COLLATE "C" NOT NULL,
	policy_name TEXT COLLATE "C" NOT NULL,
	version_id  TEXT COLLATE "C" NOT NULL,
	version_no  BIGINT NOT NULL,
	document    TEXT   NOT NULL,
	create_time BIGINT NOT NULL,
	PRIMARY KEY (account_id, policy_name, version_id),
	FOREIGN KEY (account_id, policy_name) REFERENCES policies (account_id, name) ON DELETE CASCADE
);

CREATE TABLE user_policies (
	account_id  TEXT COLLATE "C" NOT NULL,
	user_uid    TEXT COLLATE "C" NOT NULL,
	policy_type TEXT COLLATE "C" NOT NULL,
	policy_name TEXT COLLATE "C" NOT NULL,
	attach_time BIGINT NOT NULL,
	PRIMARY KEY (account_id, user_uid, policy_type, policy_name)
);
CREATE INDEX user_policies_policy ON user_policies (account_id, policy_type, policy_name);
