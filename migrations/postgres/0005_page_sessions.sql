-- Sessions of the token page (docs/tokens.md, src/page/session.rs). Only the SHA-256 of the
-- session cookie is stored; replicas sharing the database share the sessions.
CREATE TABLE IF NOT EXISTS page_sessions (
    hash         TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    groups       TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS page_sessions_last_seen ON page_sessions (last_seen_at);
