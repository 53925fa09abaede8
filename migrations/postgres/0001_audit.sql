-- Audit trail (CONTRACT §7): one row per decision. `event_id` makes replayed or retried
-- inserts idempotent (exactly once); `id` is the insertion order.
CREATE TABLE IF NOT EXISTS audit (
    id                  BIGSERIAL PRIMARY KEY,
    event_id            TEXT        NOT NULL,
    ts                  TIMESTAMPTZ NOT NULL,
    request_id          TEXT        NOT NULL,
    client_ip           TEXT        NOT NULL,
    method              TEXT        NOT NULL,
    path                TEXT        NOT NULL,
    query               TEXT,
    credential          TEXT        NOT NULL,
    provider            TEXT,
    username            TEXT,
    token_id            TEXT,
    decision            TEXT        NOT NULL,
    reason              TEXT        NOT NULL,
    status              INTEGER     NOT NULL,
    upstream_status     INTEGER,
    latency_us          BIGINT      NOT NULL,
    upstream_latency_us BIGINT,
    bytes_sent          BIGINT      NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS audit_event_id ON audit (event_id);
-- by time (newest first paging, retention)
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts, id);
-- by user
CREATE INDEX IF NOT EXISTS audit_user_ts ON audit (username, ts);
-- by status and by decision
CREATE INDEX IF NOT EXISTS audit_status_ts ON audit (status, ts);
CREATE INDEX IF NOT EXISTS audit_decision_ts ON audit (decision, ts);
