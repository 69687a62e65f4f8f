-- A cluster write no longer touches its workspace's row: the stamp trigger
-- of migration 0002 updated it (cluster_gen) to order the stamps by
-- commit, which held the row's lock until the writer committed, so that
-- every write of any cluster of a workspace, the reconciler's status
-- writes included, waited for the others. A row is now stamped with its
-- writer's transaction id, and a list knows what is new from the xmin of
-- the snapshot it was built in (listcache.go). workspaces.cluster_gen is
-- left as it is, unused.
--
-- Stamps given before this migration come from another counter and could
-- be above the transaction ids: they go back to 0, which a list built
-- before it never needs (such lists are read afresh).

CREATE OR REPLACE FUNCTION clusters_stamp() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	NEW.change_seq := CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT);
	RETURN NEW;
END
$$;

ALTER TABLE clusters DISABLE TRIGGER clusters_stamp;
UPDATE clusters SET change_seq = 0;
ALTER TABLE clusters ENABLE TRIGGER clusters_stamp;
