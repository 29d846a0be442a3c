-- One row per stored OpenAI Responses API response (responses.Stored).
-- Times are INTEGER unix microseconds (UTC). A row is self-contained: input
-- holds the whole conversation the response was generated from, so that a
-- follow-up never needs older rows, which may have expired meanwhile.
CREATE TABLE stored_responses (
    id         TEXT    PRIMARY KEY,  -- "resp_…"
    tenant     TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,     -- never served at or after this time
    response   TEXT    NOT NULL,     -- the Response object, JSON
    input      TEXT    NOT NULL,     -- JSON array of the input items
    output     TEXT    NOT NULL      -- JSON array of the output items
);

CREATE INDEX stored_responses_expires ON stored_responses (expires_us);
