-- What the clusters of each queue hold (milliCPU, memory bytes), kept by
-- every cluster write in its own transaction: admission reads and updates
-- one row per queue the cluster uses, however many clusters the workspace
-- has. The store fills it for the clusters already there right after this
-- migration, in the same transaction (migrate.go).
ALTER TABLE queues ADD COLUMN used_milli_cpu BIGINT NOT NULL DEFAULT 0;
ALTER TABLE queues ADD COLUMN used_memory BIGINT NOT NULL DEFAULT 0;
