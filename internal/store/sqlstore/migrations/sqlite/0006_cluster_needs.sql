-- What a cluster's spec needs of each queue, as JSON {"queue": [milliCPU,
-- memoryBytes]}, written with the spec: admission sums it over the
-- workspace's clusters without reading and decoding their specs. Rows
-- written before this column (needs '') are read from their spec instead.
ALTER TABLE clusters ADD COLUMN needs TEXT NOT NULL DEFAULT '';
