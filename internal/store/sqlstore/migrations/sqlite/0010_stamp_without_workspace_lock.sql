-- On PostgreSQL this migration stops cluster writes from locking their
-- workspace's row. SQLite has one writer at a time whatever the schema, and
-- its stamps (migration 0002) stay as they are: nothing changes here.
SELECT 1;
