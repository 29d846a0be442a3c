-- How a request was served, for pricing: the Bedrock service tier
-- ("default", "flex", "priority", "reserved", or '' for records made before
-- Penny recorded it: the default tier), the model id the upstream was
-- called with (a base id, an inference profile such as global.…, an ARN),
-- the part of cache_write_tokens written with the 1-hour TTL, and 1 when a
-- price the catalog does not publish was stood in for.
ALTER TABLE requests ADD COLUMN service_tier TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN upstream_model TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN price_estimated INTEGER NOT NULL DEFAULT 0;
