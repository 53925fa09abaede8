-- Gateway-issued API tokens (CONTRACT §5). Only the SHA-256 of a token is stored.
-- Times are RFC 3339 text in UTC (as sqlx writes chrono::DateTime<Utc>).
CREATE TABLE IF NOT EXISTS gateway_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    username     TEXT NOT NULL,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT,
    read_only    INTEGER NOT NULL DEFAULT 0,
    created_by   TEXT NOT NULL,
    CONSTRAINT gateway_tokens_user_name UNIQUE (username, name)
);
