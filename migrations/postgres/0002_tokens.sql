-- Gateway-issued API tokens (CONTRACT §5). Only the SHA-256 of a token is stored.
CREATE TABLE IF NOT EXISTS gateway_tokens (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    read_only    BOOLEAN NOT NULL DEFAULT FALSE,
    created_by   TEXT NOT NULL,
    CONSTRAINT gateway_tokens_user_name UNIQUE (username, name)
);
