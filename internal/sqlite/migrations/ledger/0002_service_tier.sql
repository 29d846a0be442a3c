-- The Bedrock service tier a request was served (and priced) at:
-- "default", "flex", "priority", "reserved", or '' for records made before
-- Penny recorded it (served at the default tier). cache_write_1h_tokens is
-- the part of cache_write_tokens written with the 1-hour TTL.
ALTER TABLE requests ADD COLUMN service_tier TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
