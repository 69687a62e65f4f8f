-- What a job's cluster held when the job was handed to it (the spec's
-- total CPU and memory, as queues count them): GetRayJob's cuHours are
-- metered on it, whatever the cluster becomes after.
ALTER TABLE jobs ADD COLUMN held_milli_cpu BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN held_memory_bytes BIGINT NOT NULL DEFAULT 0;
