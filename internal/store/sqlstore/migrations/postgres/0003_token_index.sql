-- The gateway finds a cluster by its current instance token's hash (the
-- Ray client's gRPC calls carry only the token). Stopped clusters have no
-- token, so only rows with one are indexed.
CREATE INDEX clusters_token ON clusters (token_hash) WHERE token_hash <> '';
