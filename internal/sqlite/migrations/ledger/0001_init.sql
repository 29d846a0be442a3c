-- One row per ledger.Record. Money is INTEGER nano-dollars, durations are
-- INTEGER microseconds, times are INTEGER unix microseconds (UTC).
CREATE TABLE requests (
    id                 INTEGER PRIMARY KEY,
    time_us            INTEGER NOT NULL,
    request_id         TEXT    NOT NULL DEFAULT '',
    tenant             TEXT    NOT NULL DEFAULT '',
    key_id             TEXT    NOT NULL DEFAULT '',
    route              TEXT    NOT NULL DEFAULT '',
    api                TEXT    NOT NULL DEFAULT '',
    stream             INTEGER NOT NULL DEFAULT 0,
    model_requested    TEXT    NOT NULL DEFAULT '',
    model              TEXT    NOT NULL DEFAULT '',
    baseline_model     TEXT    NOT NULL DEFAULT '',
    provider           TEXT    NOT NULL DEFAULT '',
    mode               TEXT    NOT NULL DEFAULT '',
    status             TEXT    NOT NULL DEFAULT '',
    error_kind         TEXT    NOT NULL DEFAULT '',
    http_status        INTEGER NOT NULL DEFAULT 0,
    error_message      TEXT    NOT NULL DEFAULT '',
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    latency_us         INTEGER NOT NULL DEFAULT 0,
    ttft_us            INTEGER NOT NULL DEFAULT 0,
    cost_nano          INTEGER NOT NULL DEFAULT 0,
    baseline_cost_nano INTEGER NOT NULL DEFAULT 0,
    cache              TEXT    NOT NULL DEFAULT '',
    strategy           TEXT    NOT NULL DEFAULT '',
    -- 1 when the upstream never reported usage (a stream cut short) and
    -- Penny counted the tokens itself.
    usage_estimated    INTEGER NOT NULL DEFAULT 0,
    prompt_hash        TEXT    NOT NULL DEFAULT '',
    prompt_tokens_saved INTEGER NOT NULL DEFAULT 0,
    attempts           TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX requests_time ON requests (time_us);
CREATE INDEX requests_tenant_time ON requests (tenant, time_us);
CREATE INDEX requests_route_time ON requests (route, time_us);
CREATE INDEX requests_model_time ON requests (model, time_us);
CREATE INDEX requests_request_id ON requests (request_id);

-- A record's tags, one row per key. request_id is requests.id.
CREATE TABLE request_tags (
    request_id INTEGER NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    PRIMARY KEY (request_id, key)
) WITHOUT ROWID;

CREATE INDEX request_tags_key_value ON request_tags (key, value);
