-- Change tracking for the in-memory cluster lists (see listcache.go): every
-- write to a cluster row, whoever makes it, sets its workspace's cluster_gen
-- to the next value of one counter of the whole database, and an insert or
-- update stamps the row's change_seq with that value. A store that holds a
-- workspace's list as of generation g reads cluster_gen, one indexed point
-- query, to know whether the list is still current, and the rows with
-- change_seq > g to bring it up to date. The counter is global rather than
-- per workspace so that a workspace deleted and created again under the
-- same id never repeats a generation of its earlier life. Rows that existed
-- before this migration keep change_seq 0 and generation 0, which a first
-- load reads whole.

CREATE TABLE cluster_gen_seq (
	n INTEGER NOT NULL
) STRICT;
INSERT INTO cluster_gen_seq (n) VALUES (0);

ALTER TABLE workspaces ADD COLUMN cluster_gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clusters ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX clusters_changes ON clusters (account_id, workspace_id, change_seq);

-- SQLite's triggers cannot change NEW, so the stamp is a second UPDATE of
-- the row just written. The stamp always differs from the row's old one,
-- which keeps the update trigger from firing for the stamp itself.
CREATE TRIGGER clusters_gen_insert AFTER INSERT ON clusters
BEGIN
	UPDATE cluster_gen_seq SET n = n + 1;
	UPDATE workspaces SET cluster_gen = (SELECT n FROM cluster_gen_seq) WHERE account_id = NEW.account_id AND id = NEW.workspace_id;
	UPDATE clusters SET change_seq = (SELECT n FROM cluster_gen_seq) WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER clusters_gen_update AFTER UPDATE ON clusters WHEN NEW.change_seq IS OLD.change_seq
BEGIN
	UPDATE cluster_gen_seq SET n = n + 1;
	-- A row moved to another workspace (rayfleet never does) leaves its old one too.
	UPDATE workspaces SET cluster_gen = (SELECT n FROM cluster_gen_seq)
		WHERE (account_id = NEW.account_id AND id = NEW.workspace_id) OR (account_id = OLD.account_id AND id = OLD.workspace_id);
	UPDATE clusters SET change_seq = (SELECT n FROM cluster_gen_seq) WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER clusters_gen_delete AFTER DELETE ON clusters
BEGIN
	UPDATE cluster_gen_seq SET n = n + 1;
	UPDATE workspaces SET cluster_gen = (SELECT n FROM cluster_gen_seq) WHERE account_id = OLD.account_id AND id = OLD.workspace_id;
END;
