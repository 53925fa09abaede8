-- Audit trail (CONTRACT §7): one row per decision. `ts` is RFC 3339 UTC with microseconds
-- (fixed width, so text order is time order). `event_id` makes replays idempotent.
CREATE TABLE IF NOT EXISTS audit (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id            TEXT    NOT NULL,
    ts                  TEXT    NOT NULL,
    request_id          TEXT    NOT NULL,
    client_ip           TEXT    NOT NULL,
    method              TEXT    NOT NULL,
    path                TEXT    NOT NULL,
    query               TEXT,
    credential          TEXT    NOT NULL,
    provider            TEXT,
    username            TEXT,
    token_id            TEXT,
    decision            TEXT    NOT NULL,
    reason              TEXT    NOT NULL,
    status              INTEGER NOT NULL,
    upstream_status     INTEGER,
    latency_us          INTEGER NOT NULL,
    upstream_latency_us INTEGER,
    bytes_sent          INTEGER NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS audit_event_id ON audit (event_id);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts, id);
CREATE INDEX IF NOT EXISTS audit_user_ts ON audit (username, ts);
CREATE INDEX IF NOT EXISTS audit_status_ts ON audit (status, ts);
CREATE INDEX IF NOT EXISTS audit_decision_ts ON audit (decision, ts);
