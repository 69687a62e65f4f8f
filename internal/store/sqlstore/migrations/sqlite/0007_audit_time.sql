-- Old audit events are removed by time across accounts (the retention
-- janitor): an index on time alone keeps that from reading the whole log.

CREATE INDEX audit_events_by_time ON audit_events (time);
