-- Batch inference (package batch): uploaded files, OpenAI batches, queued
-- items (one per request; id is the request id of its ledger record) and
-- Bedrock jobs. Times are INTEGER unix microseconds (UTC).
CREATE TABLE batch_files (
    id         TEXT    PRIMARY KEY,     -- "file-…"
    tenant     TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    filename   TEXT    NOT NULL,
    bytes      INTEGER NOT NULL,
    lines      INTEGER NOT NULL,
    created_us INTEGER NOT NULL,
    batch_id   TEXT    NOT NULL DEFAULT '', -- an output file's batch; its content is rendered from the items
    kind       TEXT    NOT NULL DEFAULT '', -- "output" or "error" for those
    content    BLOB                         -- an upload's bytes
);
CREATE INDEX batch_files_tenant ON batch_files (tenant, created_us);

CREATE TABLE batches (
    id         TEXT    PRIMARY KEY,     -- "batch_…"
    tenant     TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    data       TEXT    NOT NULL         -- the batch.Batch, JSON
);
CREATE INDEX batches_tenant ON batches (tenant, created_us);
CREATE INDEX batches_status ON batches (status);

CREATE TABLE batch_items (
    id             TEXT    PRIMARY KEY, -- the request id
    tenant         TEXT    NOT NULL,
    batch_id       TEXT    NOT NULL DEFAULT '',
    line           INTEGER NOT NULL DEFAULT 0,
    custom_id      TEXT    NOT NULL DEFAULT '',
    api            TEXT    NOT NULL,
    model          TEXT    NOT NULL,
    upstream_model TEXT    NOT NULL,
    shape          TEXT    NOT NULL,    -- Converse, InvokeModel, or '' (runs on demand)
    state          TEXT    NOT NULL,    -- queued, running, done, failed
    job_id         TEXT    NOT NULL DEFAULT '',
    size           INTEGER NOT NULL,
    created_us     INTEGER NOT NULL,
    deadline_us    INTEGER NOT NULL,
    expires_us     INTEGER NOT NULL,
    finished_us    INTEGER NOT NULL DEFAULT 0,
    request        TEXT    NOT NULL,    -- the llm.Request, JSON
    how            TEXT    NOT NULL DEFAULT '',
    result         TEXT,                -- the batch.Result, JSON
    notify         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX batch_items_queue ON batch_items (state, upstream_model, shape, created_us);
CREATE INDEX batch_items_batch ON batch_items (batch_id, line);
CREATE INDEX batch_items_job ON batch_items (job_id);
CREATE INDEX batch_items_expires ON batch_items (state, expires_us);

CREATE TABLE batch_jobs (
    id    TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    data  TEXT NOT NULL                 -- the batch.Job, JSON
);
CREATE INDEX batch_jobs_state ON batch_jobs (state);
