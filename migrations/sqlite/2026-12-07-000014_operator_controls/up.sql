-- Operator controls: an account can be suspended (it sends nothing until resumed) and held
-- to sending limits per hour and per day (NULL: the installation's default).
ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE accounts ADD COLUMN suspended_reason TEXT;
ALTER TABLE accounts ADD COLUMN suspended_at TEXT;
ALTER TABLE accounts ADD COLUMN suspended_by TEXT;
ALTER TABLE accounts ADD COLUMN messages_per_hour INTEGER;
ALTER TABLE accounts ADD COLUMN messages_per_day INTEGER;
CREATE INDEX accounts_status_idx ON accounts (status, id);

-- Messages an account handed to delivery in one window (an hour or a UTC day), shared by
-- every sender process: a slot is taken by a conditional increment that never passes the
-- limit.
CREATE TABLE account_send_windows (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    period      TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    sent        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, period, starts_at)
);

-- Until when a sending campaign waits for its account's next sending window.
ALTER TABLE campaigns ADD COLUMN quota_wait_until TEXT;

-- Automatic suspensions the operator is to be told of (`MAILROOM_OPERATOR_WEBHOOK_URL`):
-- written with the suspension, delivered and marked by whichever worker gets to it first.
CREATE TABLE operator_alerts (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    reason          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    delivered_at    TEXT,
    last_error      TEXT
);
CREATE INDEX operator_alerts_due_idx ON operator_alerts (next_attempt_at) WHERE delivered_at IS NULL;
