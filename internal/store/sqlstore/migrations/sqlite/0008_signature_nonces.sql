-- Signature nonces seen by any API process sharing the database, so that a
-- signed request replayed to another replica is refused too. A nonce is
-- kept until its request's date leaves the signature window (expires, Unix
-- ms); the janitor removes older ones. (A server on SQLite is the only
-- process and keeps its nonces in memory; the table stays empty.)

CREATE TABLE signature_nonces (
	nonce   TEXT    NOT NULL PRIMARY KEY,
	expires INTEGER NOT NULL
) STRICT;
CREATE INDEX signature_nonces_expires ON signature_nonces (expires);
