-- Sessions of the token page (docs/tokens.md, src/page/session.rs). Only the SHA-256 of the
-- session cookie is stored; replicas sharing the database share the sessions.
-- Times are RFC 3339 text in UTC (as sqlx writes chrono::DateTime<Utc>).
CREATE TABLE IF NOT EXISTS page_sessions (
    hash         TEXT PRIMARY KEY NOT NULL,
    username     TEXT NOT NULL,
    groups       TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS page_sessions_last_seen ON page_sessions (last_seen_at);
