-- The audit log: one row per call that changed or tried to change something,
-- and per call refused by a policy. Request ids are unique.

CREATE TABLE audit_events (
	account_id    TEXT    NOT NULL,
	time          INTEGER NOT NULL,
	request_id    TEXT    NOT NULL,
	user_uid      TEXT    NOT NULL,
	user_name     TEXT    NOT NULL,
	access_key_id TEXT    NOT NULL,
	action        TEXT    NOT NULL,
	resource      TEXT    NOT NULL,
	source_ip     TEXT    NOT NULL,
	result        TEXT    NOT NULL,
	message       TEXT    NOT NULL,
	PRIMARY KEY (account_id, request_id)
) STRICT;
CREATE INDEX audit_events_time ON audit_events (account_id, time DESC, request_id DESC);
