-- One row per probe name, rewritten by readiness checks: a server is ready
-- only while it can write, and a write here touches nothing else.

CREATE TABLE write_probes (
	name TEXT   NOT NULL PRIMARY KEY,
	at   BIGINT NOT NULL
);
