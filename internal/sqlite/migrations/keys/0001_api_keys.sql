-- One row per API key (keys.Record). Times are INTEGER unix microseconds
-- (UTC), 0 meaning never; money is INTEGER nano-dollars; 0 limits mean none.
CREATE TABLE api_keys (
    id                TEXT    PRIMARY KEY,          -- the access key id, "PNY…"
    name              TEXT    NOT NULL DEFAULT '',
    tenant            TEXT    NOT NULL,
    tags              TEXT    NOT NULL DEFAULT '{}', -- JSON object of strings
    budget_month_nano INTEGER NOT NULL DEFAULT 0,
    rpm               INTEGER NOT NULL DEFAULT 0,
    tpm               INTEGER NOT NULL DEFAULT 0,
    token_sha256      BLOB    NOT NULL UNIQUE,      -- SHA-256 of the bearer token
    -- How secret holds the SigV4 secret access key: 'plain' (its UTF-8
    -- bytes) or 'aes256gcm' (nonce || ciphertext, sealed by keys.Sealer with
    -- the id as associated data).
    secret_form       TEXT    NOT NULL CHECK (secret_form IN ('plain', 'aes256gcm')),
    secret            BLOB    NOT NULL,
    created_us        INTEGER NOT NULL,
    last_used_us      INTEGER NOT NULL DEFAULT 0,
    revoked_us        INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX api_keys_tenant ON api_keys (tenant, created_us);
