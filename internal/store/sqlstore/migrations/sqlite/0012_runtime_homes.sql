-- Where a runtime that is bound to one machine keeps its nodes: the local
-- runtime's node records and processes live under one server's data
-- directory. A reconciler elsewhere must not take over while clusters may
-- still have nodes there, or it would start every node a second time.

CREATE TABLE runtime_homes (
	runtime TEXT   NOT NULL PRIMARY KEY,
	home    TEXT   NOT NULL,
	host    TEXT   NOT NULL,
	dir     TEXT   NOT NULL,
	since   INTEGER NOT NULL
) STRICT;
