-- For the advisor (penny advise, penny whatif): max_tokens is the answer
-- length the request reserved (inferenceConfig.maxTokens as sent upstream,
-- after routing and the prompt policy; 0 when the request set none, and
-- for records made before Penny recorded it), so that limits never reached
-- can be found; the index serves the reuse gaps of a prompt hash.
ALTER TABLE requests ADD COLUMN max_tokens INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_prompt_hash_time ON requests (prompt_hash, time_us);
