-- Change tracking for the in-memory cluster lists (see listcache.go): every
-- write to a cluster row, whoever makes it, sets its workspace's cluster_gen
-- to the next value of one sequence of the whole schema, and an insert or
-- update stamps the row's change_seq with that value. A store that holds a
-- workspace's list as of generation g reads cluster_gen, one indexed point
-- query, to know whether the list is still current, and the rows with
-- change_seq > g to bring it up to date. The sequence is global rather than
-- per workspace so that a workspace deleted and created again under the
-- same id never repeats a generation of its earlier life. Rows that existed
-- before this migration keep change_seq 0 and generation 0, which a first
-- load reads whole.
--
-- Within a workspace, stamps follow commit order: the UPDATE of the
-- workspace row waits for the row lock of any writer before it, which it
-- holds until it commits, and then evaluates nextval afresh on the row as
-- that writer left it. So a reader that sees generation g also sees every
-- row of the workspace stamped g or lower.

CREATE SEQUENCE cluster_gen_seq;

ALTER TABLE workspaces ADD COLUMN cluster_gen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clusters ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX clusters_changes ON clusters (account_id, workspace_id, change_seq);

-- A BEFORE trigger, so that every writer locks the workspace row before the
-- cluster_counts rows (AFTER triggers). When the workspace is missing the
-- stamp is 0 and the foreign key fails the statement.
CREATE FUNCTION clusters_stamp() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
	gen BIGINT;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		UPDATE workspaces SET cluster_gen = nextval('cluster_gen_seq') WHERE account_id = OLD.account_id AND id = OLD.workspace_id
			RETURNING cluster_gen INTO gen;
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	-- A row moved to another workspace (rayfleet never does) enters the new one too.
	IF TG_OP = 'INSERT' OR OLD.account_id <> NEW.account_id OR OLD.workspace_id <> NEW.workspace_id THEN
		UPDATE workspaces SET cluster_gen = nextval('cluster_gen_seq') WHERE account_id = NEW.account_id AND id = NEW.workspace_id
			RETURNING cluster_gen INTO gen;
	END IF;
	NEW.change_seq := coalesce(gen, 0);
	RETURN NEW;
END
$$;

CREATE TRIGGER clusters_stamp BEFORE INSERT OR UPDATE OR DELETE ON clusters
	FOR EACH ROW EXECUTE FUNCTION clusters_stamp();
